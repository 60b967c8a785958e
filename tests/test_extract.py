"""Rows from a warehouse cursor into text columns (integra.pipeline.extract._columns).

Why: every later step reads the extracted file as text. Rows of text take Arrow's one-pass path; a
chunk with anything else (a phone kept as a number, bytes) must give the same text as before, not fail.
"""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from integra.pipeline.extract import _columns

SCHEMA = pa.schema([("lead_id", pa.string()), ("phone", pa.string()), ("full_name", pa.string())])


def test_rows_of_text_become_one_column_each():
    rows = [("L1", "+5511987654321", "Ana"), ("L2", None, "João"), ("L3", "11 98765-4322", None)]

    columns = _columns(rows, SCHEMA)

    assert [c.to_pylist() for c in columns] == [
        ["L1", "L2", "L3"],
        ["+5511987654321", None, "11 98765-4322"],
        ["Ana", "João", None],
    ]
    assert all(c.type == pa.string() for c in columns)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5511987654321, "5511987654321"),
        (5511987654321.0, "5511987654321"),
        (Decimal("5511987654321"), "5511987654321"),
        (b"Jo\xe3o", "Jo\ufffdo"),  # Latin-1 bytes: kept, the bad byte marked
    ],
)
def test_a_chunk_with_other_values_goes_column_by_column(value, text):
    rows = [("L1", "+5511987654321", "Ana"), ("L2", value, "Bia")]

    columns = _columns(rows, pa.schema([("lead_id", pa.string()), ("phone", pa.string()), ("name", pa.string())]))

    assert [c.to_pylist() for c in columns] == [["L1", "L2"], ["+5511987654321", text], ["Ana", "Bia"]]
