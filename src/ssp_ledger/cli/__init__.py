"""The ``ssp-ledger`` command (console script ``ssp-ledger = "ssp_ledger.cli:main"``).

The package is layered, imports pointing downwards only:

* :mod:`~ssp_ledger.cli.common` and :mod:`~ssp_ledger.cli.render` at the bottom: options,
  one-line errors, consoles, store opening, option parsing; rendering of tables;
* the command modules above them: :mod:`~ssp_ledger.cli.app` (the application and the store,
  report and audit commands), :mod:`~ssp_ledger.cli.export` and :mod:`~ssp_ledger.cli.scenario`;
* this module on top, exposing :data:`app` and :func:`main`.
"""

from ssp_ledger.cli.app import app, main

__all__ = ["app", "main"]
