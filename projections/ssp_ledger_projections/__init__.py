"""The standard projections of ssp-ledger.

Each module holds one projection written only against the public protocol in
:mod:`ssp_ledger.projection`; they are registered through the ``ssp_ledger.projections``
entry-point group, as a user's own projections would be.
"""

__all__: list[str] = []
