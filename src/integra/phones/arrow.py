"""The string steps of the vectorised path, on NA-free Arrow arrays with NumPy masks.

Through pandas' ``.str`` every step would also pay for boxing its result into a nullable Series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def texts(texts: pd.Series) -> pa.Array:
    """NA-free texts as one Arrow ``large_string`` array (no copy for pandas' Arrow-backed strings).

    The vectorised steps run on Arrow arrays and NumPy masks directly: through pandas' ``.str``
    every step would also pay for boxing its result into a nullable Series.
    """
    array = pa.array(texts, type=pa.large_string(), from_pandas=True)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def lengths(texts: pa.Array) -> np.ndarray:
    """Characters per text (``len``), as a NumPy array."""
    return np.asarray(pc.utf8_length(texts).to_numpy(zero_copy_only=False))


def digits(texts: pa.Array) -> pa.Array:
    """Each NA-free text with everything but ASCII digits removed, like ``re.sub(r"[^0-9]", "", text)``.

    Works on the UTF-8 bytes with NumPy (a regex replace costs ~5x more): bytes 0x30-0x39 are never
    part of a multi-byte character, so keeping exactly those bytes keeps exactly the digits. Only
    byte-sized and per-row temporaries: fresh memory is what a short task pays most for.
    """
    texts = texts.cast(pa.large_string())
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    # One flag per byte (computed in place: uint8 wraps below "0"), plus a 0 at the end so that every
    # row, even an empty last one, starts inside the array.
    flags = np.empty(len(data) + 1, dtype=np.uint8)
    np.subtract(data, np.uint8(ord("0")), out=flags[:-1])
    flags[-1] = 255
    keep = np.less(flags, 10, out=flags.view(bool))
    new_offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    starts = offsets[:-1] if offsets[0] == 0 else offsets[:-1] - offsets[0]
    np.add.reduceat(keep, starts, dtype=np.int64, out=new_offsets[1:])  # digits per row
    new_offsets[1:][offsets[1:] == offsets[:-1]] = 0  # reduceat gives an empty row its next byte's flag, not 0
    np.cumsum(new_offsets, out=new_offsets)
    return pa.LargeStringArray.from_buffers(len(texts), pa.py_buffer(new_offsets), pa.py_buffer(data[keep[:-1]]))


def bools(values: pa.Array) -> np.ndarray:
    """A writable NumPy bool mask of an NA-free Arrow boolean array."""
    return np.array(values.to_numpy(zero_copy_only=False), dtype=bool)


def prefix(texts: pa.Array, pattern: str, where: np.ndarray | None = None) -> np.ndarray:
    """Writable mask of ``re.match`` (a match at the start), evaluated only on ``where`` rows."""
    return regex_mask(texts, f"^(?:{pattern})", where)


def fullmatch(texts: pa.Array, pattern: str, where: np.ndarray | None = None) -> np.ndarray:
    """Writable mask of ``re.fullmatch``; on NSNs, phonenumbers' _match_national_number."""
    return regex_mask(texts, f"^(?:{pattern})$", where)


def regex_mask(texts: pa.Array, regex: str, where: np.ndarray | None) -> np.ndarray:
    """RE2 search over NA-free texts; rows outside ``where`` are ``False`` and cost nothing."""
    if where is None or where.all():
        return bools(pc.match_substring_regex(texts, regex))
    out = np.zeros(len(texts), dtype=bool)
    if where.any():
        out[where] = bools(pc.match_substring_regex(texts.filter(pa.array(where)), regex))
    return out
