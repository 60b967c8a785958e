"""normalize_phones must give exactly the per-row reference's answers, only faster.

The reference (normalize_phone) is phonenumbers itself; the property tests throw shapes at both
that exercise every branch of the fast path (country code with and without "+", national and
carrier prefixes, international dialling prefixes, odd lengths) for BR and two other regions.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integra.phones import (
    INVALID_PHONE,
    MISSING_PHONE,
    NOT_CALLABLE,
    normalize_phone,
    normalize_phones,
    rules,
    vectorised,
)

REGIONS = ["BR", "US", "PT"]

# Brazilian area codes (DDD) in use, plus a few that are not ("10", "20", "23", "90").
DDDS = [
    *[11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38],
    *[41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69],
    *[71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99],
]
ODD_DDDS = [10, 20, 23, 90]
CARRIERS = ["12", "14", "15", "21", "23", "31", "41", "43", "55", "65", "99", "17"]

BR_FORMATS = [
    "+55 {ddd} {head}-{tail}",
    "({ddd}) {head}-{tail}",
    "{ddd}{head}{tail}",
    "55{ddd}{head}{tail}",
    "+55{ddd}{head}{tail}",
    "0{ddd} {head} {tail}",
]
RARE_BR_FORMATS = [
    "0 {carrier} {ddd} {head}-{tail}",
    "0{carrier}{ddd}{head}{tail}",
    "+55 0{ddd} {head}{tail}",
    "55 0{ddd}{head}{tail}",
    "0055 {ddd} {head}{tail}",
    "00{carrier} 55 {ddd} {head}{tail}",
    "{ddd}.{head}.{tail}",
    " ( {ddd} )  {head} {tail} ",
    "+55-{ddd}-{head}-{tail}",
    "90{ddd}{head}{tail}",
    "{head}-{tail}",
]
TRICKY = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    "\u00a0",
    "+",
    "()",
    "-",
    "+55",
    "55",
    "0",
    "00",
    "abc",
    "11 9ABCD-EFGH",
    "0800-FLORES",
    "0xx11 91234-5678",
    "11 91234-5678 ext. 12",
    "11 91234-5678#",
    "tel:+55-11-91234-5678",
    "+55 11 91234-5678;phone-context=+55",
    "＋５５ １１ ９１２３４ ５６７８",
    "١١٩١٢٣٤٥٦٧٨",
    "++5511912345678",
    "(+55) 11 91234-5678",
    "+55 (11) 91234/5678",
    "11 91234 5678 / 11 3123 4567",
    "5511912345678" + " " * 300,
    "1" * 251,
]


def _cell(value: object) -> object:
    """A result cell as the reference spells it: NA becomes None."""
    return None if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) else value


def _rows(frame: pd.DataFrame) -> list[tuple[object, object]]:
    return [(_cell(e), _cell(r)) for e, r in zip(frame["e164"].tolist(), frame["reason"].tolist(), strict=True)]


def _assert_matches_reference(series: pd.Series, region: str) -> pd.DataFrame:
    result = normalize_phones(series, region)
    assert list(result.columns) == ["e164", "reason"]
    assert result.index.equals(series.index)
    expected = [normalize_phone(v, region) for v in series.tolist()]
    assert _rows(result) == expected
    return result


def _br_number(rng: random.Random, *, ddds: list[int] = DDDS) -> dict[str, str]:
    ddd = rng.choice(ddds)
    kind = rng.random()
    if kind < 0.75:  # mobile: 9 + 8 digits
        head, tail = f"9{rng.randint(0, 9999):04d}", f"{rng.randint(0, 9999):04d}"
    elif kind < 0.95:  # fixed line: [2-5] + 7 digits
        head, tail = f"{rng.randint(2, 5)}{rng.randint(0, 999):03d}", f"{rng.randint(0, 9999):04d}"
    else:  # old 8-digit mobile, or anything 8 digits
        head, tail = f"{rng.randint(0, 9999):04d}", f"{rng.randint(0, 9999):04d}"
    return {"ddd": f"{ddd}", "head": head, "tail": tail, "carrier": rng.choice(CARRIERS)}


# --------------------------------------------------------------------------------------------
# Hypothesis strategies
# --------------------------------------------------------------------------------------------

_digits = st.text(alphabet="0123456789", max_size=16)
_separated = st.lists(
    st.one_of(st.sampled_from("0123456789"), st.sampled_from([" ", "-", "(", ")", ".", "  "])),
    max_size=24,
).map("".join)
_random_numbers = st.tuples(st.sampled_from(["", "", "+", " +"]), st.one_of(_digits, _separated)).map("".join)
_prefixed = st.tuples(
    st.sampled_from(
        [
            *["0", "00", "000", "055", "0055", "55", "550", "5505", "5590", "90", "900", "015", "0 15 ", "0 99 "],
            *["1", "+1", "011", "0111", "+1 1", "351", "+351", "00351", "+55 0", "+550", "+55 90", "+5515"],
        ]
    ),
    st.text(alphabet="0123456789", max_size=13),
).map("".join)


@st.composite
def _br_numbers(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**32)))
    template = draw(st.sampled_from(BR_FORMATS + RARE_BR_FORMATS))
    ddds = DDDS if draw(st.integers(0, 9)) else ODD_DDDS
    return template.format(**_br_number(rng, ddds=ddds))


_foreign = st.one_of(
    st.integers(0, 9999).map(lambda n: f"+1 212 555 {n:04d}"),
    st.integers(0, 9999).map(lambda n: f"(201) 555-{n:04d}"),
    st.integers(0, 9999).map(lambda n: f"+44 20 7946 {n:04d}"),
    st.integers(0, 999_999).map(lambda n: f"+351 91{n // 1000:01d} {n % 1000:03d} {n % 997:03d}"),
    st.integers(0, 9_999_999).map(lambda n: f"21 {n:07d}"),
    st.integers(0, 999_999).map(lambda n: f"00351 21 {n:07d}"),
    st.integers(0, 9_999_999).map(lambda n: f"011 44 20 {n:07d}"),
)
_numeric = st.one_of(
    st.integers(0, 10**15),
    st.integers(0, 10**15).map(float),
    st.floats(allow_nan=True, allow_infinity=True),
    st.just(None),
    st.just(float("nan")),
)
_values = st.one_of(
    _random_numbers, _prefixed, _br_numbers(), _br_numbers(), _foreign, _numeric, st.sampled_from(TRICKY)
)
_settings = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(values=st.lists(_values, max_size=40), region=st.sampled_from(REGIONS))
def test_equals_reference_on_mixed_objects(values: list[object], region: str) -> None:
    _assert_matches_reference(pd.Series(values, dtype=object), region)


@_settings
@given(
    values=st.lists(st.one_of(_random_numbers, _prefixed, _br_numbers(), _foreign, st.none()), max_size=40),
    region=st.sampled_from(REGIONS),
)
def test_equals_reference_on_string_dtype(values: list[str | None], region: str) -> None:
    _assert_matches_reference(pd.Series(values, dtype="str"), region)


@_settings
@given(values=st.lists(st.integers(0, 10**15), max_size=40), region=st.sampled_from(REGIONS))
def test_equals_reference_on_integer_dtype(values: list[int], region: str) -> None:
    _assert_matches_reference(pd.Series(values, dtype="int64"), region)


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(_prefixed, _br_numbers()), max_size=30), region=st.sampled_from(["br", "XX", "ZZ"]))
def test_equals_reference_for_regions_without_fast_path(values: list[str], region: str) -> None:
    assert rules.fast_rules(region) is None
    _assert_matches_reference(pd.Series(values, dtype="str"), region)


def _region_samples(region: str, rng: random.Random, size: int) -> list[str]:
    """Example numbers of the region, damaged and prefixed in the ways people write them."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    assert meta is not None
    cc, national = str(meta.country_code), meta.national_prefix or ""
    descs = [getattr(meta, name, None) for name in ("fixed_line", "mobile", "toll_free", "premium_rate", "voip")]
    examples = [d.example_number for d in descs if d is not None and d.example_number]
    prefixes = ["", "", f"+{cc}", cc, national, national * 2, f"+{cc}{national}", f"{cc}{national}"]
    prefixes += [f"00{cc}", f"011{cc}", f"810{cc}", "0", "1", "8", "9"]
    samples = []
    for _ in range(size):
        if examples and rng.random() < 0.7:
            number = rng.choice(examples)
        else:
            number = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 16)))
        if number and rng.random() < 0.3:
            i = rng.randrange(len(number))
            number = number[:i] + rng.choice(["", rng.choice("0123456789")]) + number[i + rng.randint(0, 1) :]
        samples.append(rng.choice(prefixes) + number)
    return samples


def test_equals_reference_for_every_region_with_a_fast_path() -> None:
    """The fast path is generic over metadata: hold it to the reference wherever it switches on."""
    rng = random.Random(3)
    regions = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if rules.fast_rules(r) is not None)
    assert len(regions) > 150
    for region in regions:
        _assert_matches_reference(pd.Series(_region_samples(region, rng, 120), dtype="str"), region)


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("810375249123456", "BY"),  # international dialling prefix that does not start with 0
        ("8011234567", "BY"),  # national prefix whose removal would spoil a viable number
        ("971022345678", "AE"),  # country code without "+", then a national prefix
        ("359043012345", "BG"),
        ("6002345678", "US"),  # valid for Canada, which shares +1
        ("24715", "AC"),
        ("0 15 11 91234-5678", "BR"),  # carrier selection code
        ("0055 11 91234 5678", "BR"),
        ("00 15 55 11 91234 5678", "BR"),
    ],
)
def test_equals_reference_on_known_traps(value: str, region: str) -> None:
    _assert_matches_reference(pd.Series([value, value, value], dtype="str"), region)


# --------------------------------------------------------------------------------------------
# Realistic volume
# --------------------------------------------------------------------------------------------


def _realistic(size: int, seed: int) -> list[object]:
    rng = random.Random(seed)
    values: list[object] = []
    for _ in range(size):
        roll = rng.random()
        parts = _br_number(rng)
        if roll < 0.80:
            values.append(rng.choice(BR_FORMATS).format(**parts))
        elif roll < 0.86:
            values.append(rng.choice(RARE_BR_FORMATS).format(**parts))
        elif roll < 0.89:
            values.append(int(f"55{parts['ddd']}{parts['head']}{parts['tail']}"))
        elif roll < 0.91:
            values.append(float(f"{parts['ddd']}{parts['head']}{parts['tail']}"))
        elif roll < 0.94:
            values.append(rng.choice([None, "", "  ", float("nan"), "n/a", "-", "0"]))
        elif roll < 0.97:
            values.append("".join(rng.choice("0123456789 -+()") for _ in range(rng.randint(1, 18))))
        else:
            values.append(rng.choice([f"+1 212 555 {rng.randint(0, 9999):04d}", "+351 912 345 678", "0800 123 4567"]))
    # Leads repeat: the same number arrives through several campaigns.
    values.extend(rng.sample(values, size // 20))
    return values[:size]


def test_realistic_mixed_series_equals_reference() -> None:
    values = _realistic(20_000, seed=20_240_601)
    series = pd.Series(values, index=pd.RangeIndex(1_000, 21_000, name="lead_id"), dtype=object)
    result = _assert_matches_reference(series, "BR")
    reasons = result["reason"].value_counts(dropna=False)
    assert result["e164"].notna().mean() > 0.75
    assert {MISSING_PHONE, INVALID_PHONE}.issubset(reasons.index)


def test_common_br_shapes_never_reach_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    values = [fmt.format(**_br_number(rng)) for _ in range(500) for fmt in BR_FORMATS]
    values += ["0 15 11 91234-5678", "", "   "]
    expected = [normalize_phone(v) for v in values]

    def refuse(text: str | None, region: str) -> tuple[str | None, str | None]:
        raise AssertionError(f"fell back for {text!r}")

    monkeypatch.setattr(vectorised, "normalize_text", refuse)
    assert _rows(normalize_phones(pd.Series(values))) == expected


# --------------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "+55 11 91234-5678",
        "(11) 91234-5678",
        "11912345678",
        "5511912345678",
        "+5511912345678",
        "011 91234 5678",
        "0 15 11 91234-5678",
        " 11 91234.5678 ",
        5511912345678,
        11912345678,
        5511912345678.0,
        np.int64(5511912345678),
    ],
)
def test_brazilian_formats_become_e164(value: object) -> None:
    assert normalize_phone(value) == ("+5511912345678", None)
    assert _rows(normalize_phones(pd.Series([value], dtype=object))) == [("+5511912345678", None)]


@pytest.mark.parametrize("value", [None, float("nan"), pd.NA, "", "   ", "\t\n"])
def test_missing_phone(value: object) -> None:
    assert normalize_phone(value) == (None, MISSING_PHONE)
    assert _rows(normalize_phones(pd.Series([value], dtype=object))) == [(None, MISSING_PHONE)]


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        "123",
        "+55 123",
        "5511912345678901234",
        "(11) 8123-4567",  # 8-digit mobile without the leading 9
        "1234-5678",  # no area code
        "(20) 91234-5678",  # no such area code
        "11 9ABC-DEFG",  # phonenumbers would read the letters as keypad digits
        "0800-FLORES",
        "+999 1234 5678",
        1.5,
        float("inf"),
    ],
)
def test_invalid_phone(value: object) -> None:
    assert normalize_phone(value) == (None, INVALID_PHONE)
    assert _rows(normalize_phones(pd.Series([value], dtype=object))) == [(None, INVALID_PHONE)]


@pytest.mark.parametrize("value", ["0800 123 4567", "0300 123 4567", "4004-1234", "0900 123 4567"])
def test_not_callable(value: object) -> None:
    assert normalize_phone(value) == (None, NOT_CALLABLE)
    assert _rows(normalize_phones(pd.Series([value]))) == [(None, NOT_CALLABLE)]


def test_landlines_and_foreign_numbers_are_callable() -> None:
    values = ["(11) 3123-4567", "+1 201 555 0123", "+351 912 345 678", "+44 20 7946 0018"]
    expected = ["+551131234567", "+12015550123", "+351912345678", "+442079460018"]
    assert _rows(normalize_phones(pd.Series(values))) == [(e, None) for e in expected]


def test_default_region_reads_national_numbers() -> None:
    assert normalize_phone("(201) 555-0123", "US") == ("+12015550123", None)
    assert normalize_phone("912 345 678", "PT") == ("+351912345678", None)
    assert normalize_phone("912 345 678", "BR") == (None, INVALID_PHONE)


def test_frame_keeps_index_and_uses_nullable_strings() -> None:
    series = pd.Series(["11912345678", None, "0800 123 4567"], index=["a", "b", "c"])
    result = normalize_phones(series)
    assert result.index.tolist() == ["a", "b", "c"]
    assert all(isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA for dtype in result.dtypes)
    assert result.loc["a", "e164"] == "+5511912345678"
    assert result.loc["a", "reason"] is pd.NA
    assert result.loc["b", "e164"] is pd.NA
    assert result.loc["b", "reason"] == MISSING_PHONE


def test_empty_series() -> None:
    result = normalize_phones(pd.Series([], dtype=object))
    assert list(result.columns) == ["e164", "reason"]
    assert result.empty


def test_numeric_columns_with_gaps() -> None:
    floats = pd.Series([5511912345678.0, np.nan, 11912345678.0, 123.0])
    _assert_matches_reference(floats, "BR")
    nullable = pd.Series([5511912345678, None, 11912345678], dtype="Int64")
    _assert_matches_reference(nullable, "BR")
    strings = pd.Series(["11912345678", None], dtype="string")
    _assert_matches_reference(strings, "BR")


@pytest.mark.parametrize("region", REGIONS)
def test_fast_path_is_available(region: str) -> None:
    assert rules.fast_rules(region) is not None
