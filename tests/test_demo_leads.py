"""Tests for include/demo/leads.py: the deterministic demo leads generator and its seeders.

Why: demos, tests and benchmarks rely on this data being identical run to run, on the
good phones really being dialable Brazilian numbers, and on the bad rows being exactly
the advertised kinds, so downstream validation counts can be asserted.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sqlite3
import subprocess
import sys
import unicodedata
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import phonenumbers
import pytest

from tests.fixtures.databases import Database

ROOT = Path(__file__).resolve().parents[1]
MODULE_PATH = ROOT / "include" / "demo" / "leads.py"


def _load_module():
    """Load leads.py by path: `include` is not a package on sys.path in every runner."""
    spec = importlib.util.spec_from_file_location("demo_leads_under_test", MODULE_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


leads = _load_module()

START = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 2026-11-25 00:00 in São Paulo
END = START + timedelta(days=1)
PG_HOST, PG_PORT = "127.0.0.1", 5432
MYSQL_HOST, MYSQL_PORT = "127.0.0.1", 3306
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
BR_FORMATS = {
    "+55 DD NNNN-NNNN": re.compile(r"^\+55 \d{2} \d{4,5}-\d{4}$"),
    "(DD) NNNN-NNNN": re.compile(r"^\(\d{2}\) \d{4,5}-\d{4}$"),
    "DDNNNNNNNN": re.compile(r"^\d{10,11}$"),
    "55DDNNNNNNNN": re.compile(r"^55\d{10,11}$"),
    "+55DDNNNNNNNN": re.compile(r"^\+55\d{10,11}$"),
    "0DD NNNN NNNN": re.compile(r"^0\d{2} \d{4,5} \d{4}$"),
}


def make(n: int = 500, **kwargs):
    kwargs.setdefault("start", START)
    kwargs.setdefault("end", END)
    return list(leads.generate_leads(n, **kwargs))


def parse_br(phone: str | None):
    """phonenumbers.parse with default region BR, None when it is not a number at all."""
    if phone is None:
        return None
    try:
        return phonenumbers.parse(phone, "BR")
    except phonenumbers.NumberParseException:
        return None


def is_valid(phone: str | None) -> bool:
    number = parse_br(phone)
    return number is not None and phonenumbers.is_valid_number(number)


def e164(phone: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(phone, "BR"), phonenumbers.PhoneNumberFormat.E164)


def has_control_char(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def strip_kind(rows):
    return [{k: v for k, v in row.items() if k != leads.KIND_KEY} for row in rows]


@pytest.fixture(scope="module")
def labelled():
    """5,000 rows with their kind: enough for every bad kind to appear many times."""
    return make(5000, with_kind=True)


# --- determinism and shape -------------------------------------------------------------


def test_same_arguments_give_same_rows():
    assert make(300, seed=7) == make(300, seed=7)


def test_different_seed_gives_different_rows():
    a, b = make(300, seed=7), make(300, seed=8)
    assert a != b
    assert sum(x["phone"] == y["phone"] for x, y in zip(a, b, strict=True)) < 10


def test_with_kind_only_adds_the_kind_key():
    plain = make(400, seed=3)
    labelled = make(400, seed=3, with_kind=True)
    assert strip_kind(labelled) == plain
    assert all(leads.KIND_KEY not in row for row in plain)
    assert {row[leads.KIND_KEY] for row in labelled} <= {leads.GOOD_KIND, *leads.BAD_KINDS}


def test_does_not_touch_the_global_rng():
    import random

    random.seed(123)
    expected = random.random()
    random.seed(123)
    make(50)
    assert random.random() == expected


def test_counts_ids_and_columns():
    assert make(0) == []
    rows = make(1234, id_prefix="D20261125-")
    assert len(rows) == 1234
    assert [row["lead_id"] for row in rows[:3]] == ["D20261125-00000000", "D20261125-00000001", "D20261125-00000002"]
    assert len({row["lead_id"] for row in rows}) == 1234
    assert all(tuple(row) == leads.COLUMNS for row in rows)
    assert make(3)[0]["lead_id"] == "L00000000"


def test_created_at_is_utc_text_inside_the_interval():
    start = datetime(2026, 11, 25, 0, 0, 0, 500_000, tzinfo=timezone(timedelta(hours=-3)))  # fraction on purpose
    end = start + timedelta(hours=2)
    rows = make(2000, start=start, end=end)
    low, high = start.astimezone(UTC), end.astimezone(UTC)
    stamps = []
    for row in rows:
        assert TS_RE.match(row["created_at"]), row["created_at"]
        stamp = datetime.strptime(row["created_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert low <= stamp < high
        stamps.append(stamp)
    # Uniform: both halves of the window get a fair share.
    first_half = sum(stamp < low + (high - low) / 2 for stamp in stamps)
    assert 850 < first_half < 1150


def test_local_day_bounds_follow_the_zone():
    start, end = leads.local_day_bounds(date(2026, 11, 25), leads.resolve_timezone("America/Sao_Paulo"))
    assert start.astimezone(UTC) == START
    assert end.astimezone(UTC) == END
    # A DST day elsewhere has 25 hours.
    start, end = leads.local_day_bounds(date(2026, 11, 1), leads.resolve_timezone("America/New_York"))
    assert end - start == timedelta(hours=24)  # wall-clock difference within one zone...
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=25)  # ...but 25 real hours


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -1}, "n must be"),
        ({"start": datetime(2026, 11, 25)}, "timezone-aware"),
        ({"end": START}, "empty interval"),
        ({"bad_ratio": 1.5}, "bad_ratio"),
    ],
)
def test_rejects_bad_arguments_at_call_time(kwargs, message):
    args = {"n": 10, "start": START, "end": END} | kwargs
    n = args.pop("n")
    with pytest.raises(ValueError, match=message):
        leads.generate_leads(n, **args)  # no next(): errors must not wait for iteration


# --- bad rows accounting ------------------------------------------------------------------


def test_bad_ratio_is_respected_and_every_kind_appears(labelled):
    kinds = Counter(row[leads.KIND_KEY] for row in labelled)
    bad = sum(count for kind, count in kinds.items() if kind != leads.GOOD_KIND)
    assert bad == round(5000 * 0.04)
    assert set(kinds) == {leads.GOOD_KIND, *leads.BAD_KINDS}
    # Cycling the kinds keeps them balanced.
    assert max(kinds[k] for k in leads.BAD_KINDS) - min(kinds[k] for k in leads.BAD_KINDS) <= 1
    # Spread over the whole batch, not clustered at one end.
    for quarter in range(4):
        chunk = labelled[quarter * 1250 : (quarter + 1) * 1250]
        assert 20 < sum(row[leads.KIND_KEY] != leads.GOOD_KIND for row in chunk) < 80


@pytest.mark.parametrize(("n", "ratio", "expected"), [(500, 0.04, 20), (500, 0.0, 0), (100, 0.1, 10), (10, 1.0, 10)])
def test_bad_count_is_round_n_times_ratio(n, ratio, expected):
    rows = make(n, bad_ratio=ratio, with_kind=True)
    assert sum(row[leads.KIND_KEY] != leads.GOOD_KIND for row in rows) == expected


def test_good_phones_are_valid_mostly_brazilian_numbers(labelled):
    good = [row for row in labelled if row[leads.KIND_KEY] == leads.GOOD_KIND]
    regions = Counter()
    formats = Counter()
    for row in good:
        number = parse_br(row["phone"])
        assert number is not None, row["phone"]
        assert phonenumbers.is_valid_number(number), row["phone"]
        region = phonenumbers.region_code_for_number(number)
        regions[region] += 1
        if region == "BR":
            assert phonenumbers.is_valid_number_for_region(number, "BR")
            kind = phonenumbers.number_type(number)
            assert kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
            matched = [name for name, pattern in BR_FORMATS.items() if pattern.match(row["phone"])]
            assert len(matched) == 1, row["phone"]
            formats[matched[0]] += 1
    foreign = sum(count for region, count in regions.items() if region != "BR")
    assert 20 <= foreign <= 80  # "a few": about 1%, still good leads
    assert len(regions) >= 4
    assert set(formats) == set(BR_FORMATS)  # every real-world format shows up
    mobiles = sum(
        phonenumbers.number_type(parse_br(row["phone"])) == phonenumbers.PhoneNumberType.MOBILE for row in good
    )
    assert mobiles > 0.75 * len(good)


def test_good_rows_have_clean_names_and_unique_numbers(labelled):
    good = [row for row in labelled if row[leads.KIND_KEY] == leads.GOOD_KIND]
    for row in good:
        name = row["full_name"]
        assert name
        assert name.strip() == name
        assert len(name) <= 300
        assert not has_control_char(name)
        assert row["company"]
        assert row["city"]
        assert row["product"]
    numbers = Counter(e164(row["phone"]) for row in good)
    assert max(numbers.values()) == 1  # the only repeated numbers are the duplicate_phone rows
    assert any(any(ch in row["full_name"] for ch in "ãçéêíóôú") for row in good)  # accents kept


def test_bad_rows_are_the_kind_they_claim(labelled):
    first_seen: dict[str, tuple[int, str]] = {}
    for index, row in enumerate(labelled):
        kind, phone, name = row[leads.KIND_KEY], row["phone"], row["full_name"]
        if kind == leads.GOOD_KIND:
            first_seen.setdefault(e164(phone), (index, phone))
            continue
        if kind in {"empty_name", "blank_name", "long_name", "control_char_name"}:
            assert is_valid(phone), (kind, phone)  # only the name is wrong
        else:
            assert name.strip(), (kind, name)  # only the phone is wrong
            assert not has_control_char(name), (kind, name)
        if kind == "missing_phone":
            assert phone is None
        elif kind == "blank_phone":
            assert phone is not None
            assert phone.strip() == ""
        elif kind == "short_phone":
            assert phone
            assert sum(ch.isdigit() for ch in phone) < 10
            assert not is_valid(phone)
        elif kind == "text_phone":
            assert phone
            assert parse_br(phone) is None
        elif kind == "empty_name":
            assert name == ""
        elif kind == "blank_name":
            assert name
            assert name.strip() == ""
        elif kind == "long_name":
            assert len(name) > 300
        elif kind == "control_char_name":
            assert has_control_char(name)
            assert name.strip()
        elif kind == "duplicate_phone":
            assert is_valid(phone)
            earlier_index, earlier_phone = first_seen[e164(phone)]
            assert earlier_index < index
            assert earlier_phone != phone  # same number, different writing
        else:  # pragma: no cover - a new kind needs a check here
            pytest.fail(f"unchecked bad kind {kind}")
    assert any("\x00" in row["full_name"] for row in labelled)  # the nastiest control char is there


# --- sinks -------------------------------------------------------------------------------


def read_sqlite(path: Path) -> list[dict]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(f"SELECT {', '.join(leads.COLUMNS)} FROM leads ORDER BY lead_id").fetchall()
    return [dict(row) for row in rows]


def test_ddl_text_creates_table_and_index():
    ddl = leads.load_ddl()
    assert "CREATE TABLE IF NOT EXISTS leads" in ddl
    assert "CREATE INDEX IF NOT EXISTS" in ddl
    with sqlite3.connect(":memory:") as conn:
        conn.executescript(ddl)
        conn.executescript(ddl)  # idempotent
        cols = [row[1] for row in conn.execute("PRAGMA table_info(leads)")]
        indexes = [row[1] for row in conn.execute("PRAGMA index_list(leads)")]
    assert tuple(cols) == leads.COLUMNS
    assert "leads_created_at_idx" in indexes


def test_seed_sqlite_round_trip(tmp_path):
    db = tmp_path / "warehouse.db"
    rows = make(700, with_kind=True)
    assert leads.seed_sqlite(db, iter(rows)) == 700  # any iterable; "_kind" ignored
    assert read_sqlite(db) == strip_kind(rows)  # NUL and accents survive
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "SELECT count(*) FROM leads WHERE created_at >= ? AND created_at < ?",
            (
                START.strftime("%Y-%m-%d %H:%M:%S"),
                END.strftime("%Y-%m-%d %H:%M:%S"),
            ),
        ).fetchone() == (700,)

    # Same ids again without replace: the whole load rolls back, nothing half-written.
    with pytest.raises(sqlite3.IntegrityError):
        leads.seed_sqlite(db, make(700, seed=99))
    assert read_sqlite(db) == strip_kind(rows)

    other = make(50, seed=99)
    assert leads.seed_sqlite(db, other, replace=True) == 50
    assert read_sqlite(db) == other
    assert leads.seed_sqlite(db, [], replace=True) == 0
    assert read_sqlite(db) == []


def test_seed_sqlite_chunks_span_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(leads, "CHUNK_SIZE", 64)
    db = tmp_path / "chunks.db"
    assert leads.seed_sqlite(db, leads.generate_leads(200, start=START, end=END)) == 200
    assert len(read_sqlite(db)) == 200


def test_write_csv_round_trip(tmp_path):
    path = tmp_path / "leads.csv"
    rows = make(300, with_kind=True)
    assert leads.write_csv(path, rows) == 300
    with path.open(encoding="utf-8", newline="") as handle:
        back = list(csv.DictReader(handle))
    assert tuple(back[0]) == leads.COLUMNS
    expected = [{k: ("" if v is None else v) for k, v in row.items()} for row in strip_kind(rows)]
    assert back == expected


def test_cli_seeds_one_local_day_into_sqlite(tmp_path, capsys):
    db = tmp_path / "cli.db"
    argv = ["--sqlite", str(db), "--n", "120", "--day", "2026-11-25", "--seed", "5"]
    assert leads.main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert "120" in out[0]
    assert str(db) in out[0]
    stored = read_sqlite(db)
    assert len(stored) == 120
    for row in stored:
        if is_valid(row["phone"]):
            assert row["phone"] not in out[0]
        assert "2026-11-25 03:00:00" <= row["created_at"] < "2026-11-26 03:00:00"
    assert stored == make(120, seed=5)

    assert leads.main([*argv, "--replace"]) == 0  # rerunnable
    assert len(read_sqlite(db)) == 120


def test_cli_rejects_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit):
        leads.main(["--n", "5", "--day", "2026-11-25"])  # no destination
    with pytest.raises(SystemExit):
        leads.main(["--csv", str(tmp_path / "x.csv"), "--sqlite", str(tmp_path / "x.db"), "--day", "2026-11-25"])
    with pytest.raises(SystemExit):
        leads.main(["--csv", str(tmp_path / "x.csv"), "--day", "2026-11-25", "--timezone", "Mars/Olympus"])
    capsys.readouterr()


def test_script_runs_with_the_standard_library_only(tmp_path):
    """`python -S` skips site-packages: the SQLite/CSV paths must work in a bare container."""
    out_csv = tmp_path / "bare.csv"
    result = subprocess.run(
        [sys.executable, "-S", str(MODULE_PATH), "--csv", str(out_csv), "--n", "40", "--day", "2026-11-25"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"seeded 40 leads into csv {out_csv} (day 2026-11-25 America/Sao_Paulo, seed 42)"
    with out_csv.open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 40


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def pg_dsn(pg_database: str) -> str:
    """The seeder's target: a fresh PostgreSQL database (conftest's ``pg_database``), dropped afterwards."""
    return pg_database


def read_pg(dsn: str) -> list[dict]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT {', '.join(leads.COLUMNS[:-1])}, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS') "
                "FROM leads ORDER BY lead_id"
            )
            return [dict(zip(leads.COLUMNS, row, strict=True)) for row in cur.fetchall()]
    finally:
        conn.close()


@pytest.mark.postgres
def test_seed_postgres_round_trip(pg_dsn):
    import psycopg2

    rows = make(700, with_kind=True)
    assert leads.seed_postgres(pg_dsn, rows) == 700
    # PostgreSQL text cannot store NUL: it is stored as U+001A, everything else verbatim.
    expected = [
        {k: v.replace("\x00", "\x1a") if isinstance(v, str) else v for k, v in row.items()} for row in strip_kind(rows)
    ]
    assert read_pg(pg_dsn) == expected
    assert any("\x1a" in row["full_name"] for row in expected)

    conn = psycopg2.connect(pg_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_name = 'leads' "
                "AND column_name = 'created_at' AND table_schema = current_schema()"
            )
            assert cur.fetchone() == ("timestamp without time zone",)
            cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'leads' AND schemaname = current_schema()")
            assert "leads_created_at_idx" in {row[0] for row in cur.fetchall()}
    finally:
        conn.close()

    with pytest.raises(psycopg2.IntegrityError):
        leads.seed_postgres(pg_dsn, make(700, seed=99))  # duplicate ids: all rolled back
    assert len(read_pg(pg_dsn)) == 700

    other = make(40, seed=99)
    assert leads.seed_postgres(pg_dsn, other, replace=True) == 40
    assert read_pg(pg_dsn) == other


@pytest.mark.postgres
def test_cli_seeds_postgres(pg_dsn, capsys, monkeypatch):
    monkeypatch.setattr(leads, "CHUNK_SIZE", 64)  # several execute_values pages
    assert leads.main(["--postgres", pg_dsn, "--n", "150", "--day", "2026-11-25", "--bad-ratio", "0"]) == 0
    out = capsys.readouterr().out.strip()
    database = pg_dsn.rsplit("/", 1)[1]
    assert out.startswith(f"seeded 150 leads into postgres {PG_HOST}:{PG_PORT}/{database}")
    stored = read_pg(pg_dsn)
    assert stored == make(150, bad_ratio=0)


# --- MariaDB (MySQL) -----------------------------------------------------------------------


@pytest.fixture
def mysql_dsn(mysql_database: str) -> str:
    """The seeder's target: a fresh MariaDB database (conftest's ``mysql_database``), dropped afterwards."""
    return mysql_database


def read_mysql(dsn: str) -> list[dict]:
    return Database("mysql", dsn).query(
        f"SELECT {', '.join(leads.COLUMNS[:-1])}, DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s') AS created_at "
        "FROM leads ORDER BY lead_id"
    )


@pytest.mark.mysql
def test_seed_mysql_round_trip(mysql_dsn):
    import MySQLdb

    db = Database("mysql", mysql_dsn)
    # Servers often default to latin1 or a case-insensitive collation: the table must not inherit it.
    db.execute("ALTER DATABASE CHARACTER SET latin1 COLLATE latin1_swedish_ci")
    rows = make(700, with_kind=True)
    assert leads.seed_mysql(mysql_dsn, rows) == 700
    # Unlike PostgreSQL, MySQL text keeps NUL: every value comes back verbatim, accents included.
    assert read_mysql(mysql_dsn) == strip_kind(rows)
    assert any("\x00" in row["full_name"] for row in rows)

    schema = "table_schema = DATABASE() AND table_name = 'leads'"
    assert db.query(f"SELECT table_collation FROM information_schema.tables WHERE {schema}") == [
        {"table_collation": "utf8mb4_bin"}
    ]
    assert db.query(
        f"SELECT data_type FROM information_schema.columns WHERE {schema} AND column_name = 'created_at'"
    ) == [{"data_type": "datetime"}]  # naive UTC wall time: no session time zone, no 2038 limit
    indexes = db.query(f"SELECT index_name FROM information_schema.statistics WHERE {schema}")
    assert "leads_created_at_idx" in {row["index_name"] for row in indexes}

    with pytest.raises(MySQLdb.IntegrityError):
        leads.seed_mysql(mysql_dsn, make(700, seed=99))  # duplicate ids: all rolled back
    assert read_mysql(mysql_dsn) == strip_kind(rows)

    other = make(40, seed=99)
    assert leads.seed_mysql(mysql_dsn, other, replace=True) == 40  # DDL again, index already there
    assert read_mysql(mysql_dsn) == other
    assert leads.seed_mysql(mysql_dsn, [], replace=True) == 0
    assert read_mysql(mysql_dsn) == []


@pytest.mark.mysql
def test_cli_seeds_mysql(mysql_dsn, capsys, monkeypatch):
    monkeypatch.setattr(leads, "CHUNK_SIZE", 64)  # several executemany chunks
    argv = ["--mysql", mysql_dsn, "--n", "150", "--day", "2026-11-25", "--bad-ratio", "0"]
    assert leads.main(argv) == 0
    out = capsys.readouterr().out.strip()
    database = mysql_dsn.rsplit("/", 1)[1]
    assert out.startswith(f"seeded 150 leads into mysql {MYSQL_HOST}:{MYSQL_PORT}/{database}")
    assert read_mysql(mysql_dsn) == make(150, bad_ratio=0)

    assert leads.main([*argv, "--replace"]) == 0  # rerunnable
    assert len(read_mysql(mysql_dsn)) == 150


def test_mysql_dsn_never_shows_its_password():
    assert (
        leads._describe_mysql_dsn("mysql://app:s3cret@db.example:3307/warehouse") == "mysql db.example:3307/warehouse"
    )
    assert leads._describe_mysql_dsn("postgresql://app:s3cret@db/x") == "mysql"
    with pytest.raises(ValueError, match="mysql://") as excinfo:
        leads.seed_mysql("mysql://app:s3cret@db.example/", [])
    assert "s3cret" not in str(excinfo.value)
