"""An instance's batches in turn, each on its own, with each POST in flight while the next batch is prepared.

Reading a batch file, checking the ledger, scheduling and validating the request (``plan``) change nothing,
so they run while the previous batch's POST waits for the API. The claim stays right before its own POST,
on this thread: a kill between a claim and its POST leaves a key that needs a person, so that window is
not widened, and every ledger write of a claim stays on one thread (sqlite3 gives up the GIL on every row
it writes, which a second busy thread would turn into a wait per row). One POST at a time, in batch order.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowSkipException

from integra.operators import Claimed, Planned

if TYPE_CHECKING:
    from airflow.sdk import Context

    from integra.operators import Batch, IntegraOperator

Outcome = tuple[list[dict[str, Any]], list[tuple["Batch", Exception]], list[str]]


def send_each(operator: IntegraOperator, context: Context, todo: list[Batch]) -> Outcome:
    """(results, failures, late-policy skips) of every batch; a failed one does not stop the others."""
    results: list[dict[str, Any]] = []
    failures: list[tuple[Batch, Exception]] = []
    late: list[str] = []

    def attempt(batch: Batch, step: Callable[[], Any]) -> Any:
        try:
            return step()
        except AirflowSkipException as exc:  # the late policy skipped it (recorded in the ledger)
            late.append(str(exc))
            return {"batch_number": batch.batch_number, "status": "skipped", "reason": str(exc)}
        except Exception as exc:  # batches are independent; timeouts and kills are BaseException and stop here
            operator.log.error("Batch %d of %d (%s) failed: %s", batch.batch_number, batch.batch_count, batch.name, exc)
            failures.append((batch, exc))
            return None

    # Leaving the block waits for a POST still in flight (a timeout or kill included): its outcome is recorded.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="integra-post") as poster:
        in_flight: tuple[Batch, Future[dict[str, Any]]] | None = None
        for batch in todo:
            step = attempt(batch, partial(operator.plan, context, batch))
            if in_flight is not None:
                results.append(attempt(in_flight[0], in_flight[1].result))
                in_flight = None
            if isinstance(step, Planned):
                step = attempt(batch, partial(operator.claim, step))
            if isinstance(step, Claimed):
                in_flight = (batch, poster.submit(operator.post, step))
            elif step is not None:
                results.append(step)
        if in_flight is not None:
            results.append(attempt(in_flight[0], in_flight[1].result))
    return [r for r in results if r is not None], failures, late
