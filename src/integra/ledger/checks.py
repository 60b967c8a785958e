"""A run's questions to the ledger about its numbers: suppressed, phoned within the cooldown, capped.

``build_recipients`` asks them for every chunk of leads; this module decides how: fetched once and
intersected in memory when the ledger's side is small, IN (...) look-ups per chunk when it is not.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from integra.ledger import history
from integra.ledger.store import SUPPRESSED, Ledger, at_most

if TYPE_CHECKING:
    from integra.policy.contact import ContactPolicy

#: Above this many rows, a ledger set is asked about chunk by chunk instead of fetched once.
PREFETCH_LIMIT = 1_000_000


class NumberChecks:
    """The ledger's answers for this run's numbers: suppressed, phoned within the cooldown, capped.

    Each set that is small (the usual case: an opt-out list, a campaign's last days, other campaigns'
    same-day batches) is fetched once per run and intersected in memory; one over ``PREFETCH_LIMIT``
    rows is asked about chunk by chunk (IN look-ups), so memory stays bounded on a large ledger.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        dag_id: str,
        interval_end: datetime,
        since: datetime,
        requested: datetime,
        policy: ContactPolicy | None,
    ) -> None:
        self.ledger, self.policy = ledger, policy
        self.dag_id, self.interval_end, self.since, self.requested = dag_id, interval_end, since, requested
        with ledger.engine.connect() as conn:
            rows = at_most(conn, SUPPRESSED, PREFETCH_LIMIT)
            self.suppressed = None if rows is None else {row[0] for row in rows}
            rows = at_most(
                conn, history.cooled_down_query(dag_id=dag_id, since=since, interval_end=interval_end), PREFETCH_LIMIT
            )
            self.recent = None if rows is None else {row[0] for row in rows}
            self.capped: dict[str, list[str]] | None = {}
            if policy is not None:
                query = history.cap_holders_query(
                    dag_id=dag_id, interval_end=interval_end, scheduled_at=requested, policy=policy
                )
                rows = at_most(conn, query, PREFETCH_LIMIT)
                self.capped = None if rows is None else history.capped_numbers(rows, policy)

    def check(self, numbers: list[str], new: list[str]) -> tuple[set[str], set[str], dict[str, list[str]]]:
        """(suppressed, cooled down, capped → holders) among ``numbers``; the cap only for the ``new`` ones."""
        if self.suppressed is not None and self.recent is not None and self.capped is not None:
            known = set(numbers)
            return self.suppressed & known, self.recent & known, {n: self.capped[n] for n in new if n in self.capped}
        with self.ledger.engine.connect() as conn:
            suppressed = (
                self.suppressed & set(numbers) if self.suppressed is not None else self.ledger.suppressed(conn, numbers)
            )
            recent = (
                self.recent & set(numbers)
                if self.recent is not None
                else history.cooled_down(
                    conn, dag_id=self.dag_id, since=self.since, interval_end=self.interval_end, numbers=numbers
                )
            )
            if self.capped is not None:
                capped = {n: self.capped[n] for n in new if n in self.capped}
            else:
                assert self.policy is not None
                capped = history.over_cap(
                    conn,
                    dag_id=self.dag_id,
                    interval_end=self.interval_end,
                    scheduled_at=self.requested,
                    numbers=new,
                    policy=self.policy,
                )
        return suppressed, recent, capped
