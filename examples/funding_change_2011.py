"""The 2010/11 funding decision on a synthetic partnership: figures before and after the
ring-fenced grant ended (31 Aug 2011) and PE-teacher days began (1 Sep 2011).

Run: python examples/funding_change_2011.py
"""

from __future__ import annotations

import datetime as dt

from ssp_ledger import Ledger
from ssp_ledger.synthetic import SyntheticConfig, generate


def main() -> None:
    ledger = Ledger.in_memory()
    ledger.record_many(generate(SyntheticConfig(seed=2006)))
    print(f"{'year':8} {'sessions':>9} {'attendances':>12} {'funded £':>12} {'hidden £':>12}"
          f" {'hidden %':>9}")
    for year in ("2008/09", "2009/10", "2010/11", "2011/12", "2012/13"):
        as_of = dt.date(2000 + int(year[-2:]), 8, 31)
        p = ledger.participation(as_of=as_of, period=year).row("total")
        c = ledger.staff_time_cost(as_of=as_of, period=year).row("total")
        funded, hidden = int(c["funded_pence"] or 0), int(c["hidden_pence"] or 0)
        share = 100 * hidden // max(1, funded + hidden)
        print(f"{year:8} {p['sessions']:>9} {p['attendances']:>12} {funded / 100:>12,.0f}"
              f" {hidden / 100:>12,.0f} {share:>8}%")
    age = ledger.partnership_age(as_of=dt.date(2011, 8, 31)).to_dicts()[0]
    print(f"\npartnership age at the end of the grant: {age['age_years']} years, "
          f"{age['active_members']} members, mean tenure {age['mean_tenure_days']} days")


if __name__ == "__main__":
    main()
