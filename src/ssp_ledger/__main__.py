"""``python -m ssp_ledger``: the ssp-ledger command."""

from ssp_ledger.cli import main

if __name__ == "__main__":
    main()
