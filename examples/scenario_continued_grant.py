"""The 2010/11 funding decision against continued funding, on a synthetic partnership.

Loads ``scenario_continued_grant.toml`` (next to this file), runs both arms in memory, prints the
headline figures, draws baseline vs scenario (PNG and SVG, in the current folder) and sweeps the
sessions elasticity in two worker processes.

Run: python examples/scenario_continued_grant.py
"""

from __future__ import annotations

from pathlib import Path

from ssp_ledger import load_scenario, run_scenario, sweep
from ssp_ledger.scenarios import ScenarioError, plot

HERE = Path(__file__).resolve().parent


def pounds(pence: int) -> str:
    return f"{'-' if pence < 0 else ''}£{abs(pence) / 100:,.0f}"


def main() -> None:
    scenario = load_scenario(HERE / "scenario_continued_grant.toml")
    result = run_scenario(scenario)
    print(f"{scenario.name}\n(fork {scenario.fork_date}, horizon {scenario.horizon}; "
          "baseline = what the parameters record: grant ends 31 Aug 2011)\n")
    print(f"{'year':8} {'':9} {'sessions':>9} {'attendances':>12} {'hidden cost':>12} "
          f"{'funded cost':>12} {'funding gap':>12}")
    for period in result.periods:
        year = period.label
        for arm in ("baseline", "scenario", "difference"):
            sessions = result.figure("participation", "sessions", year, arm)
            attendances = result.figure("participation", "attendances", year, arm)
            hidden = result.figure("staff_time_cost", "hidden_pence", year, arm)
            funded = result.figure("staff_time_cost", "funded_pence", year, arm)
            gap = result.figure("funding", "funding_gap_pence", year, arm)
            print(f"{year if arm == 'baseline' else '':8} {arm:9} {sessions:>9,} "
                  f"{attendances:>12,} {pounds(hidden):>12} {pounds(funded):>12} "
                  f"{pounds(gap):>12}")
    members = result.figure("membership", "active_members", result.window.label, "difference")
    print(f"\nmember schools at the horizon, scenario minus baseline: {members:+d}")
    try:
        for name in ("continued_grant.png", "continued_grant.svg"):
            plot(result, Path.cwd() / name)
            print(f"wrote {name}")
    except ScenarioError as e:  # matplotlib is an optional extra
        print(f"(no plot: {e})")
    result.close()

    rows = sweep(scenario, "sessions_elasticity", [0.35, 0.7, 1.05], workers=2).rows
    print("\nsessions elasticity -> extra sessions and attendances, fork to horizon:")
    for row in rows:
        print(f"  {row['value']:>5}: {row['difference_sessions']:+7,} sessions, "
              f"{row['difference_attendances']:+9,} attendances")


if __name__ == "__main__":
    main()
