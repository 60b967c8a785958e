"""Text cleaning on Arrow arrays: names and dynamic variables, vectorised (no per-row Python)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x{9f}\x{2028}\x{2029}]"  # control characters, in RE2 syntax for pyarrow
MAX_VARIABLE_LENGTH = 500


def arrow(values: pd.Series) -> Any:
    """The column as one Arrow string array, for pyarrow.compute's vectorised string kernels."""
    import pyarrow as pa

    array = pa.array(values, type=pa.string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _may_have_control(text: pa.Array) -> bool:
    """Whether the array's UTF-8 bytes hold any that can start a control character; if not, none has one.

    C0 and DEL are single bytes; U+0080-U+009F start with 0xC2 and U+2028/U+2029 with 0xE2. Four byte
    scans clear clean text, the usual case, at a fraction of the cost of the regex over every row.
    """
    import numpy as np

    data = text.buffers()[2]  # a superset of the rows' bytes (a slice shares its parent's): only ever "maybe"
    if data is None:
        return False
    raw = np.frombuffer(data, dtype=np.uint8)
    return bool((raw < 0x20).any() or (raw == 0x7F).any() or (raw == 0xC2).any() or (raw == 0xE2).any())


def _control_mask(text: pa.Array) -> np.ndarray:
    """Per row, whether the text has a control character (null: no)."""
    import numpy as np
    import pyarrow.compute as pc

    if not _may_have_control(text):
        return np.zeros(len(text), dtype=bool)
    return pc.fill_null(pc.match_substring_regex(text, _CONTROL_RE2), False).to_numpy(zero_copy_only=False)


def has_control(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.Series(_control_mask(arrow(values)), index=values.index)


def _collapse_whitespace(text: pa.Array) -> pa.Array:
    """``re.sub(r"\\s+", " ")`` (RE2's ``\\s``) on an Arrow string array, rewriting only the rows that change.

    Most names hold single spaces only, and finding the others costs a fifth of rewriting every row.
    """
    import pyarrow.compute as pc

    irregular = pc.fill_null(pc.match_substring_regex(text, r"\s\s|[^\S ]"), False)
    if not pc.any(irregular).as_py():
        return text
    return pc.replace_with_mask(text, irregular, pc.replace_substring_regex(text.filter(irregular), r"\s+", " "))


def clean_names(names: pd.Series, *, title_case: bool, max_length: int) -> tuple[pd.Series, pd.Series]:
    """Trimmed names and, per row, the reason they cannot be used (or NA)."""
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc

    text = arrow(names)
    cleaned = pc.utf8_trim_whitespace(_collapse_whitespace(text))
    if title_case:
        cleaned = pc.utf8_title(cleaned)
    too_long = pc.fill_null(pc.greater(pc.utf8_length(cleaned), max_length), False).to_numpy(zero_copy_only=False)
    control = _control_mask(text)
    missing = pc.fill_null(pc.equal(cleaned, ""), True).to_numpy(zero_copy_only=False)
    # The first reason that applies, in this order (assigned last wins); None for a usable name. An object
    # array of shared strings, not np.select's fixed-width text (52 bytes a row).
    reason = np.full(len(text), None, dtype=object)
    reason[too_long] = "name_too_long"
    reason[control] = "invalid_name"
    reason[missing] = "missing_name"
    reason_series = pd.Series(reason, index=names.index, dtype="string")
    return pd.Series(cleaned, index=names.index, dtype="string"), reason_series
