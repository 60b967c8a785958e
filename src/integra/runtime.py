"""Process-level settings for a task's bulk work."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Leave what the process already holds (Airflow, SQLAlchemy, pandas: long-lived) out of the collector
    while a task builds its rows.

    Tens of thousands of new rows trigger full collections, and each would rescan the whole heap: in
    ``airflow dags test`` (every task in one process) that cost up to half a second per 10,000-member batch.
    Unfrozen afterwards, so nothing the task leaves behind escapes a later collection.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
