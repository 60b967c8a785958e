"""Splitting a chunk of recipients by zone group (integra.pipeline.batching.split).

Why: a small group's rows wait in memory until its batch fills or the run ends. If they were slices
of the whole chunk, every chunk of a 1M-lead day would stay in memory with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from integra.pipeline.batching import split

ROWS = 50_000


def _chunk() -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.DataFrame(
        {
            "lead_id": pd.array([f"lead-{i}" for i in range(ROWS)], dtype="string"),
            "phone_number": pd.array([f"+55119{i:08d}" for i in range(ROWS)], dtype="string"),
        },
        index=pd.RangeIndex(ROWS) * 3,  # a filtered chunk: labels, not positions
    )
    groups = np.full(ROWS, 7)
    groups[[5, 900, 40_000]] = 2  # a small group (say, foreign numbers), out of order among the rest
    groups[ROWS - 1] = 11
    return frame, pd.Series(groups, index=frame.index)


def test_parts_come_in_label_order_with_rows_in_their_original_order():
    frame, groups = _chunk()

    parts = list(split(frame, groups))

    assert [label for label, _ in parts] == [2, 7, 11]
    small = parts[0][1]
    assert small["lead_id"].tolist() == ["lead-5", "lead-900", "lead-40000"]
    assert small.index.tolist() == [15, 2_700, 120_000]  # the chunk's own labels, for the group lookup
    assert sum(len(part) for _, part in parts) == ROWS
    assert parts[1][1].index.is_monotonic_increasing


def test_a_small_part_does_not_hold_the_whole_chunk_in_memory():
    frame, groups = _chunk()
    whole = pa.array(frame["phone_number"]).get_total_buffer_size()

    small = next(part for label, part in split(frame, groups) if label == 2)

    held = pa.array(small["phone_number"]).get_total_buffer_size()  # buffers referenced, slices ignored
    assert held < 1_000 < whole
    # What DataFrame.groupby would have handed over instead: a slice of a sorted copy of the chunk.
    via_groupby = next(part for label, part in frame.groupby(groups) if label == 2)
    assert pa.array(via_groupby["phone_number"]).get_total_buffer_size() > whole // 2
