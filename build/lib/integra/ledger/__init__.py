"""The contact ledger: its own transactional database (PostgreSQL, MySQL/MariaDB or SQLite).

``tables`` defines it, ``migrations`` versions it (``python -m integra.ledger upgrade``), ``store``
reaches it, ``idempotency`` keeps the promise that nobody is phoned twice.
"""

from __future__ import annotations

from integra.ledger.schema import DEFAULT_CONN_ID, LedgerNotReadyError, upgrade
from integra.ledger.store import Ledger

__all__ = ["DEFAULT_CONN_ID", "Ledger", "LedgerNotReadyError", "upgrade"]
