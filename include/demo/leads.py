"""Deterministic synthetic Brazilian leads, and seeders for the demo warehouse.

Why: `make demo`, the tests and the benchmarks need realistic, messy lead data
(mobiles and landlines in the formats people really type, a few foreign numbers,
a known share of broken rows) without touching real personal data, and they need
the *same* data on every run. Everything is drawn from `random.Random(seed)`.

Standard library only, so it also runs in a plain container; the PostgreSQL and
MySQL/MariaDB seeders import their drivers (psycopg2, mysqlclient) lazily.

CLI (one destination):
    python include/demo/leads.py --sqlite PATH | --postgres DSN | --mysql DSN | --csv PATH \
        --n 500 --day 2026-11-25 [--timezone America/Sao_Paulo] [--seed 42] \
        [--bad-ratio 0.04] [--id-prefix L] [--replace]
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import re
import sqlite3
import sys
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Row = dict[str, str | None]

COLUMNS: tuple[str, ...] = (
    "lead_id",
    "full_name",
    "phone",
    "email",
    "company",
    "city",
    "product",
    "created_at",
)
DDL_PATH = Path(__file__).resolve().parent.parent / "sql" / "demo_leads_ddl.sql"
CHUNK_SIZE = 10_000
KIND_KEY = "_kind"
GOOD_KIND = "good"
# Valid, callable leads whose number is not Brazilian (they are *good* rows, kind "good").
FOREIGN_RATIO = 0.01

# Kinds of deliberately bad rows; `generate_leads(..., with_kind=True)` labels them.
BAD_KINDS: tuple[str, ...] = (
    "missing_phone",  # phone is None
    "blank_phone",  # "" or whitespace only
    "short_phone",  # too few digits to be a dialable Brazilian number
    "text_phone",  # words instead of digits: "n/a", "sem telefone", ...
    "empty_name",  # full_name == ""
    "blank_name",  # full_name is whitespace only
    "long_name",  # full_name longer than 300 characters
    "control_char_name",  # control character inside the name: "Ana\x00Paula"
    "duplicate_phone",  # an earlier good row's number, written in another format
)

_SQL_INSERT_SQLITE = f"INSERT INTO leads ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
_SQL_INSERT_PG_VALUES = f"INSERT INTO leads ({', '.join(COLUMNS)}) VALUES %s"
_SQL_INSERT_MYSQL = f"INSERT INTO leads ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
# utf8mb4 keeps accents and emoji whatever the server default; _bin makes lead_id case-sensitive as elsewhere.
_MYSQL_TABLE_OPTIONS = " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_MYSQL_ER_DUP_KEYNAME = 1061  # CREATE INDEX on an index that already exists
_EPOCH = datetime(1970, 1, 1)  # naive UTC; int offsets give 'YYYY-MM-DD HH:MM:SS' without microseconds
_SUBSCRIBER_SPACE = 10**7  # the last 7 digits of every generated Brazilian number
# PostgreSQL text cannot hold NUL; ASCII SUB is the conventional stand-in and is still a control char.
_PG_NUL_REPLACEMENT = "\x1a"
# Brazil has had no daylight saving time since 2019, so a fixed offset is exact for current dates
# when the container lacks tz data.
_FIXED_ZONES: dict[str, tzinfo] = {
    "UTC": UTC,
    "America/Sao_Paulo": timezone(timedelta(hours=-3), "America/Sao_Paulo"),
}

MALE_NAMES: tuple[str, ...] = (
    "João", "José", "Antônio", "Francisco", "Luís", "Sebastião", "Márcio", "Fábio", "Sérgio",
    "Vinícius", "Otávio", "Inácio", "Lúcio", "Rogério", "Cássio", "Júlio", "Mário", "Flávio",
    "Tomás", "Thiago", "Lucas", "Pedro", "Gabriel", "Rafael", "Matheus", "Guilherme", "Felipe",
    "Bruno", "Carlos", "Paulo", "Ricardo", "Rodrigo", "Eduardo", "Marcos", "Raimundo", "Benedito",
)  # fmt: skip
FEMALE_NAMES: tuple[str, ...] = (
    "Maria", "Ana", "Conceição", "Aparecida", "Fátima", "Luíza", "Letícia", "Márcia", "Lúcia",
    "Patrícia", "Cecília", "Beatriz", "Juliana", "Camila", "Fernanda", "Larissa", "Jéssica",
    "Mônica", "Vitória", "Sônia", "Cláudia", "Débora", "Inês", "Glória", "Helena", "Luana",
    "Raíssa", "Tainá", "Bárbara", "Gisele", "Simone", "Adriana", "Priscila", "Renata",
)  # fmt: skip
FIRST_NAMES: tuple[str, ...] = MALE_NAMES + FEMALE_NAMES
SURNAMES: tuple[str, ...] = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Ribeiro", "Carvalho", "Gonçalves", "Araújo", "Martins", "Rocha", "Almeida", "Lopes",
    "Soares", "Fernandes", "Vieira", "Barbosa", "Conceição", "Magalhães", "Brandão", "Falcão",
    "Simões", "Guimarães", "Assunção", "Romão", "Damião", "Estêvão", "Nóbrega", "Sá", "Antunes",
    "Leão", "Medeiros", "Cavalcanti", "Nascimento", "Moraes", "Mendonça", "Azevedo", "Teixeira",
    "Monteiro", "Freitas", "Cardoso", "Correia", "Dias", "Castro", "Pinto", "Cunha", "Macêdo",
    "Brito", "Patrício", "Loureiro", "Quintão",
)  # fmt: skip
# Surnames that carry their particle: "Maria da Conceição", "José dos Santos".
_PARTICLE_SURNAMES = (
    "da Silva", "dos Santos", "de Oliveira", "de Souza", "da Conceição", "dos Anjos", "das Neves",
    "do Nascimento", "da Costa", "de Jesus", "da Cruz", "das Dores", "de Assis", "da Paz",
)  # fmt: skip

COMPANY_SUFFIXES: tuple[str, ...] = ("Ltda", "Ltda.", "S.A.", "S/A", "ME", "EPP", "EIRELI")
_COMPANY_SUFFIX_WEIGHTS = (40, 10, 15, 3, 20, 8, 4)
_COMPANY_HEADS = (
    "Transportes", "Logística", "Distribuidora", "Armazéns Gerais", "Comércio de Alimentos",
    "Atacadão", "Embalagens", "Cooperativa Agroindustrial", "Frigorífico", "Importadora",
    "Expresso", "Supermercados", "Materiais de Construção", "Têxtil", "Farmacêutica", "Bebidas",
)  # fmt: skip
_COMPANY_TAILS = (
    "Norte", "Sul", "Paulista", "Nordeste", "Central", "Horizonte", "Ipê", "Jequitibá", "Aurora",
    "São Jorge", "Boa Vista", "Três Irmãos", "Pantanal", "Serra Azul", "Guanabara", "Cerrado",
)  # fmt: skip

PRODUCTS: tuple[str, ...] = (
    "Armazenagem geral", "Armazenagem refrigerada", "Cross-docking", "Fulfillment e-commerce",
    "WMS em nuvem", "Porta-pallets", "Empilhadeira elétrica", "Galpão logístico para locação",
    "Transporte fracionado", "Gestão de estoque", "Etiquetas RFID", "Seguro de carga",
    "Entrega last mile", "Armazém alfandegado",
)  # fmt: skip

# Real Brazilian area codes (DDD), the main city of each, its state and a rough weight.
CITIES_BY_DDD: tuple[tuple[str, str, str, int], ...] = (
    ("11", "São Paulo", "SP", 60), ("12", "São José dos Campos", "SP", 4), ("13", "Santos", "SP", 4),
    ("14", "Bauru", "SP", 3), ("15", "Sorocaba", "SP", 4), ("16", "Ribeirão Preto", "SP", 4),
    ("17", "São José do Rio Preto", "SP", 3), ("18", "Presidente Prudente", "SP", 2),
    ("19", "Campinas", "SP", 8), ("21", "Rio de Janeiro", "RJ", 30),
    ("22", "Campos dos Goytacazes", "RJ", 2), ("24", "Volta Redonda", "RJ", 2),
    ("27", "Vitória", "ES", 5), ("28", "Cachoeiro de Itapemirim", "ES", 1),
    ("31", "Belo Horizonte", "MG", 15), ("32", "Juiz de Fora", "MG", 3),
    ("33", "Governador Valadares", "MG", 2), ("34", "Uberlândia", "MG", 3),
    ("35", "Poços de Caldas", "MG", 2), ("37", "Divinópolis", "MG", 1), ("38", "Montes Claros", "MG", 2),
    ("41", "Curitiba", "PR", 12), ("42", "Ponta Grossa", "PR", 2), ("43", "Londrina", "PR", 3),
    ("44", "Maringá", "PR", 3), ("45", "Foz do Iguaçu", "PR", 2), ("46", "Francisco Beltrão", "PR", 1),
    ("47", "Joinville", "SC", 4), ("48", "Florianópolis", "SC", 4), ("49", "Chapecó", "SC", 2),
    ("51", "Porto Alegre", "RS", 12), ("53", "Pelotas", "RS", 2), ("54", "Caxias do Sul", "RS", 3),
    ("55", "Santa Maria", "RS", 2), ("61", "Brasília", "DF", 12), ("62", "Goiânia", "GO", 8),
    ("63", "Palmas", "TO", 1), ("64", "Rio Verde", "GO", 1), ("65", "Cuiabá", "MT", 3),
    ("66", "Rondonópolis", "MT", 1), ("67", "Campo Grande", "MS", 3), ("68", "Rio Branco", "AC", 1),
    ("69", "Porto Velho", "RO", 1), ("71", "Salvador", "BA", 10), ("73", "Ilhéus", "BA", 1),
    ("74", "Juazeiro", "BA", 1), ("75", "Feira de Santana", "BA", 2),
    ("77", "Vitória da Conquista", "BA", 1), ("79", "Aracaju", "SE", 2), ("81", "Recife", "PE", 10),
    ("82", "Maceió", "AL", 3), ("83", "João Pessoa", "PB", 3), ("84", "Natal", "RN", 3),
    ("85", "Fortaleza", "CE", 9), ("86", "Teresina", "PI", 2), ("87", "Petrolina", "PE", 1),
    ("88", "Juazeiro do Norte", "CE", 1), ("89", "Picos", "PI", 1), ("91", "Belém", "PA", 6),
    ("92", "Manaus", "AM", 6), ("93", "Santarém", "PA", 1), ("94", "Marabá", "PA", 1),
    ("95", "Boa Vista", "RR", 1), ("96", "Macapá", "AP", 1), ("97", "Coari", "AM", 1),
    ("98", "São Luís", "MA", 3), ("99", "Imperatriz", "MA", 1),
)  # fmt: skip
# Weighted choices are expanded into flat tables so one random() call picks an entry (speed).
_CITY_TABLE: tuple[tuple[str, str], ...] = tuple(
    (ddd, city) for ddd, city, _uf, weight in CITIES_BY_DDD for _ in range(weight)
)
_SUFFIX_TABLE: tuple[str, ...] = tuple(
    suffix for suffix, weight in zip(COMPANY_SUFFIXES, _COMPANY_SUFFIX_WEIGHTS, strict=True) for _ in range(weight)
)

_FREE_MAIL = ("gmail.com", "hotmail.com", "outlook.com", "yahoo.com.br", "uol.com.br", "bol.com.br")
_TEXT_PHONES = (
    "n/a", "N/A", "sem telefone", "não informado", "não tem", "-", "---", "null", "NULL", "xxx",
)  # fmt: skip
_BLANKS = ("", " ", "   ", "\t", " \n ")
_CONTROL_CHARS = ("\x00", "\x01", "\x07", "\x08", "\x1b", "\x7f")


def _format_br(ddd: str, sub: str, fmt: int) -> str:
    """Write a Brazilian number the way it shows up in CRMs and spreadsheets."""
    head, tail = sub[:-4], sub[-4:]
    if fmt == 0:
        return f"+55 {ddd} {head}-{tail}"
    if fmt == 1:
        return f"({ddd}) {head}-{tail}"
    if fmt == 2:
        return f"{ddd}{sub}"
    if fmt == 3:
        return f"55{ddd}{sub}"
    if fmt == 4:
        return f"+55{ddd}{sub}"
    return f"0{ddd} {head} {tail}"


_BR_FORMAT_COUNT = 6
# Share (percent) of each format above among valid Brazilian numbers.
_BR_FORMAT_TABLE: tuple[int, ...] = tuple(
    fmt for fmt, weight in enumerate((25, 25, 18, 10, 14, 8)) for _ in range(weight)
)


Rand = Callable[[], float]


def _pick(rand: Rand, seq: Sequence[Any]) -> Any:
    """seq[uniform index] from one random() call; much cheaper than Random.choice in the hot loop."""
    return seq[int(rand() * len(seq))]


def _digits(rand: Rand, count: int) -> str:
    """count random decimal digits, zero padded."""
    return f"{int(rand() * 10**count):0{count}d}"


def _foreign_phone(rand: Rand) -> str:
    """A valid non-Brazilian number (US, Portugal, Spain, Uruguay, Argentina, Mexico)."""
    country = int(rand() * 6)
    if country == 0:
        npa = _pick(rand, ("212", "305", "312", "415", "617", "646", "702", "786"))
        exchange = 201 + int(rand() * 799)
        if exchange % 100 == 11:  # N11 codes are service numbers, not exchanges
            exchange += 1
        if rand() < 0.5:
            return f"+1 {npa} {exchange} {_digits(rand, 4)}"
        return f"+1 ({npa}) {exchange}-{_digits(rand, 4)}"
    if country == 1:
        return f"+351 9{_pick(rand, '1236')}{_digits(rand, 1)} {_digits(rand, 3)} {_digits(rand, 3)}"
    if country == 2:
        return f"+34 6{_digits(rand, 2)} {_digits(rand, 3)} {_digits(rand, 3)}"
    if country == 3:
        return f"+598 9{1 + int(rand() * 9)} {_digits(rand, 3)} {_digits(rand, 3)}"
    if country == 4:
        return f"+54 9 11 {2000 + int(rand() * 5000)}-{_digits(rand, 4)}"
    return f"+52 55 {1000 + int(rand() * 9000)} {_digits(rand, 4)}"


@lru_cache(maxsize=4096)
def _slug(text: str) -> str:
    """ASCII, lowercase, no spaces: 'São Jorge' -> 'saojorge' (for e-mail addresses)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


def _full_name(rand: Rand) -> tuple[str, str, str]:
    """Return (full name, first name, last surname); second given names match the gender."""
    given = MALE_NAMES if rand() < 0.5 else FEMALE_NAMES
    first = _pick(rand, given)
    roll = rand()
    first_part = f"{first} {_pick(rand, given)}" if roll < 0.2 else first
    last = _pick(rand, SURNAMES)
    roll = rand()
    if roll < 0.2:
        return f"{first_part} {_pick(rand, _PARTICLE_SURNAMES)} {last}", first, last
    if roll < 0.65:
        middle = _pick(rand, SURNAMES)
        return f"{first_part} {middle} {last}", first, last
    return f"{first_part} {last}", first, last


def _company(rand: Rand) -> tuple[str, str]:
    """Return (company name, its distinctive word) for names like 'Transportes Gonçalves Ltda'."""
    word = _pick(rand, SURNAMES) if rand() < 0.5 else _pick(rand, _COMPANY_TAILS)
    suffix = _pick(rand, _SUFFIX_TABLE)
    if rand() < 0.1:
        return f"{word} & Filhos {suffix}", word
    return f"{_pick(rand, _COMPANY_HEADS)} {word} {suffix}", word


def _email(rand: Rand, first: str, last: str, company_word: str) -> str | None:
    """Most leads have an e-mail; about 7% do not (not a defect, the agent only needs the phone)."""
    roll = rand()
    if roll < 0.07:
        return None
    local = f"{_slug(first)}{_pick(rand, ('.', '_', ''))}{_slug(last)}"
    if rand() < 0.3:
        local += str(1 + int(rand() * 99))
    domain = _pick(rand, _FREE_MAIL) if roll < 0.6 else f"{_slug(company_word)}.com.br"
    return f"{local}@{domain}"


def _long_name(rand: Rand) -> str:
    """A name field that someone pasted notes into: always more than 300 characters."""
    target = 301 + int(rand() * 120)
    parts = [_pick(rand, FIRST_NAMES)]
    length = len(parts[0])
    while length <= target:
        word = _pick(rand, SURNAMES)
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts)


def _short_phone(rand: Rand, ddd: str, sub: str) -> str:
    """Too few digits: a cut-off number or one missing its area code."""
    variant = int(rand() * 4)
    if variant == 0:
        return f"({ddd}) {sub[:4]}-{sub[4:7]}"
    if variant == 1:
        return f"{sub[-8:-4]}-{sub[-4:]}"
    if variant == 2:
        return f"+55 {ddd} {sub[:4]}"
    return f"{ddd}{sub[:5]}"


def generate_leads(
    n: int,
    *,
    start: datetime,
    end: datetime,
    seed: int = 42,
    bad_ratio: float = 0.04,
    id_prefix: str = "L",
    with_kind: bool = False,
    area_codes: Sequence[str] | None = None,
) -> Iterator[Row]:
    """Yield n synthetic leads, identical for identical arguments.

    created_at is uniform in [start, end) (aware datetimes), written as a UTC
    'YYYY-MM-DD HH:MM:SS' string. round(n * bad_ratio) rows are bad, cycling through
    BAD_KINDS at seeded positions; about 1% are valid foreign numbers (good rows).
    Good Brazilian numbers are unique for n <= 10**7, so the only repeated numbers
    are the "duplicate_phone" rows. with_kind=True adds "_kind": "good" or the bad
    kind, and changes nothing else. area_codes limits the Brazilian numbers to those DDDs (one
    state's list, say) and leaves out foreign numbers.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware datetimes")
    if not 0.0 <= bad_ratio <= 1.0:
        raise ValueError(f"bad_ratio must be within [0, 1], got {bad_ratio}")
    low, high = math.ceil(start.timestamp()), math.ceil(end.timestamp())
    if n and high <= low:
        raise ValueError(f"empty interval: start={start.isoformat()} end={end.isoformat()}")
    cities = _CITY_TABLE
    if area_codes is not None:
        cities = tuple(entry for entry in _CITY_TABLE if entry[0] in set(area_codes))
        if not cities:
            raise ValueError(f"no known area code among {list(area_codes)}")
    return _generate(n, low, high, seed, bad_ratio, id_prefix, with_kind, cities, area_codes is None)


def _generate(
    n: int,
    low: int,
    high: int,
    seed: int,
    bad_ratio: float,
    id_prefix: str,
    with_kind: bool,
    cities: tuple[tuple[str, str], ...] = _CITY_TABLE,
    foreign: bool = True,
) -> Iterator[Row]:
    """The generator body; split out so argument errors raise at call time, not at first next()."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    rand = rng.random
    n_bad = min(n, round(n * bad_ratio))
    n_foreign = min(n - n_bad, round(n * FOREIGN_RATIO)) if foreign else 0
    special: dict[int, str] = {}
    for j, position in enumerate(rng.sample(range(n), n_bad + n_foreign)):
        special[position] = BAD_KINDS[j % len(BAD_KINDS)] if j < n_bad else "foreign"
    # An affine bijection over 7-digit suffixes keeps generated numbers unique without a set.
    multiplier = rng.randrange(1, _SUBSCRIBER_SPACE // 10) * 10 + rng.choice((1, 3, 7, 9))
    offset = rng.randrange(_SUBSCRIBER_SPACE)
    # Recent good Brazilian numbers (ddd, subscriber, format) for "duplicate_phone" rows.
    pool: list[tuple[str, str, int]] = []
    pool_size = 256
    good_seen = 0
    span = high - low
    epoch, seconds = _EPOCH, timedelta(seconds=1)

    for i in range(n):
        created_at = (epoch + seconds * (low + int(rand() * span))).isoformat(" ")
        full_name, first, last = _full_name(rand)
        company, company_word = _company(rand)
        ddd, city = _pick(rand, cities)
        product = _pick(rand, PRODUCTS)
        email = _email(rand, first, last, company_word)
        suffix = f"{(multiplier * i + offset) % _SUBSCRIBER_SPACE:07d}"
        # Mostly mobiles (9 + [6-9] + 7 digits), some landlines ([2-5] + 7 digits).
        sub = f"9{_pick(rand, '6789')}{suffix}" if rand() < 0.85 else f"{_pick(rand, '2345')}{suffix}"
        fmt = _pick(rand, _BR_FORMAT_TABLE)
        phone: str | None = _format_br(ddd, sub, fmt)

        kind = special.get(i, GOOD_KIND) if special else GOOD_KIND
        if kind == GOOD_KIND:
            if good_seen < pool_size:
                pool.append((ddd, sub, fmt))
            else:
                pool[good_seen % pool_size] = (ddd, sub, fmt)
            good_seen += 1
        elif kind == "foreign":
            phone = _foreign_phone(rand)
            kind = GOOD_KIND
        elif kind == "duplicate_phone":
            if pool:
                d_ddd, d_sub, d_fmt = _pick(rand, pool)
                other = (d_fmt + 1 + int(rand() * (_BR_FORMAT_COUNT - 1))) % _BR_FORMAT_COUNT
                phone = _format_br(d_ddd, d_sub, other)
            else:  # no earlier good row to copy: label it honestly instead
                kind = "missing_phone"
                phone = None
        elif kind == "missing_phone":
            phone = None
        elif kind == "blank_phone":
            phone = _pick(rand, _BLANKS)
        elif kind == "short_phone":
            phone = _short_phone(rand, ddd, sub)
        elif kind == "text_phone":
            phone = _pick(rand, _TEXT_PHONES)
        elif kind == "empty_name":
            full_name = ""
        elif kind == "blank_name":
            full_name = _pick(rand, _BLANKS[1:])
        elif kind == "long_name":
            full_name = _long_name(rand)
        elif kind == "control_char_name":
            full_name = full_name.replace(" ", _pick(rand, _CONTROL_CHARS), 1)

        row: Row = {
            "lead_id": f"{id_prefix}{i:08d}",
            "full_name": full_name,
            "phone": phone,
            "email": email,
            "company": company,
            "city": city,
            "product": product,
            "created_at": created_at,
        }
        if with_kind:
            row[KIND_KEY] = kind
        yield row


def load_ddl() -> str:
    """The portable CREATE TABLE/INDEX text shared by SQLite and PostgreSQL (MySQL: see mysql_ddl)."""
    return DDL_PATH.read_text(encoding="utf-8")


def mysql_ddl() -> list[str]:
    """load_ddl() as MySQL/MariaDB statements, run one by one.

    Why not the text as is: MySQL's TIMESTAMP converts from the session time zone and ends in 2038,
    while created_at holds naive UTC wall time, so it becomes DATETIME; the table is utf8mb4 with a
    binary collation whatever the server default; MySQL 8 lacks CREATE INDEX IF NOT EXISTS, so the
    clause is dropped and seed_mysql tolerates "duplicate key name" instead.
    """
    text = "\n".join(line for line in load_ddl().splitlines() if not line.lstrip().startswith("--"))
    text = re.sub(r"\bTIMESTAMP\b", "DATETIME", text).replace("CREATE INDEX IF NOT EXISTS", "CREATE INDEX")
    statements = [statement.strip() for statement in text.split(";") if statement.strip()]
    return [s + _MYSQL_TABLE_OPTIONS if s.startswith("CREATE TABLE") else s for s in statements]


def _chunks(
    rows: Iterable[dict[str, Any]],
    size: int,
    clean: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
) -> Iterator[list[tuple[Any, ...]]]:
    """Column tuples in lists of `size`, so 1M rows never sit in memory at once."""
    getter = itemgetter(*COLUMNS)
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        values = getter(row)
        chunk.append(clean(values) if clean else values)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def seed_sqlite(path: str | Path, rows: Iterable[dict[str, Any]], *, replace: bool = False) -> int:
    """Create the leads table if needed and insert rows in one transaction; return the count.

    replace=True deletes existing rows first (same transaction). Extra keys such as
    "_kind" are ignored. A lead_id that already exists aborts the whole load.
    """
    conn = sqlite3.connect(str(path))
    try:
        # 128 MiB page cache for this connection only: random created_at keys thrash the default 2 MiB.
        conn.execute("PRAGMA cache_size = -131072")
        conn.executescript(load_ddl())
        count = 0
        with conn:  # commit on success, roll back everything on error
            if replace:
                conn.execute("DELETE FROM leads")
            for chunk in _chunks(rows, CHUNK_SIZE):
                conn.executemany(_SQL_INSERT_SQLITE, chunk)
                count += len(chunk)
    finally:
        conn.close()
    return count


def _strip_nul(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """PostgreSQL text rejects NUL bytes; swap them for ASCII SUB so the row stays a control-char row."""
    if any(isinstance(v, str) and "\x00" in v for v in values):
        return tuple(v.replace("\x00", _PG_NUL_REPLACEMENT) if isinstance(v, str) else v for v in values)
    return values


def seed_postgres(dsn: str, rows: Iterable[dict[str, Any]], *, replace: bool = False) -> int:
    """PostgreSQL twin of seed_sqlite (one transaction, DDL included); return the count.

    Uses psycopg2's execute_values (multi-row INSERT, 10k rows per statement) because
    plain executemany costs one round trip per row. NUL in text becomes U+001A.
    Target a schema with the DSN, e.g. "... options='-c search_path=demo'".
    """
    import psycopg2  # optional dependency, only this path needs it
    from psycopg2.extras import execute_values

    conn = psycopg2.connect(dsn)
    try:
        count = 0
        with conn, conn.cursor() as cur:  # `with conn` is one transaction, it does not close
            cur.execute(load_ddl())
            if replace:
                cur.execute("DELETE FROM leads")
            for chunk in _chunks(rows, CHUNK_SIZE, _strip_nul):
                execute_values(cur, _SQL_INSERT_PG_VALUES, chunk, page_size=CHUNK_SIZE)
                count += len(chunk)
    finally:
        conn.close()
    return count


def _mysql_connect_args(dsn: str) -> dict[str, Any]:
    """mysqlclient keyword arguments from a mysql://user[:password]@host[:port]/database URI."""
    parts = urlsplit(dsn)
    database = unquote(parts.path.lstrip("/"))
    if parts.scheme != "mysql" or not database:  # the message leaves the DSN out: it may hold a password
        raise ValueError("expected a mysql://user[:password]@host[:port]/database DSN")
    args: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "database": database,
        "charset": "utf8mb4",
    }
    if parts.username:
        args["user"] = unquote(parts.username)
    if parts.password is not None:
        args["password"] = unquote(parts.password)
    return args


def seed_mysql(dsn: str, rows: Iterable[dict[str, Any]], *, replace: bool = False) -> int:
    """MySQL/MariaDB twin of seed_sqlite (DDL included); return the count.

    dsn is mysql://user[:password]@host[:port]/database. mysqlclient's executemany sends each
    chunk as multi-row INSERTs, not one round trip per row. DDL commits implicitly on MySQL, so
    the table survives a failed load; the DELETE (replace=True) and all inserts are one
    transaction. Text is stored verbatim, NUL included.
    """
    import MySQLdb  # optional dependency (mysqlclient), only this path needs it

    conn = MySQLdb.connect(**_mysql_connect_args(dsn))
    try:
        count = 0
        with conn.cursor() as cur:
            for statement in mysql_ddl():
                try:
                    cur.execute(statement)
                except MySQLdb.OperationalError as exc:
                    if exc.args[0] != _MYSQL_ER_DUP_KEYNAME:
                        raise
            if replace:
                cur.execute("DELETE FROM leads")
            for chunk in _chunks(rows, CHUNK_SIZE):
                cur.executemany(_SQL_INSERT_MYSQL, chunk)
                count += len(chunk)
        conn.commit()
    finally:
        conn.close()  # without the commit above, the server discards the whole load
    return count


def write_csv(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows (COLUMNS only, header first, None as empty) as UTF-8 CSV; return the count."""
    count = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for chunk in _chunks(rows, CHUNK_SIZE):
            writer.writerows(chunk)
            count += len(chunk)
    return count


def resolve_timezone(name: str) -> tzinfo:
    """ZoneInfo, with exact fixed-offset fallbacks for containers without tz data."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name in _FIXED_ZONES:
            return _FIXED_ZONES[name]
        raise


def local_day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """[local midnight, next local midnight) as aware datetimes; right on DST days too."""
    return (
        datetime.combine(day, time(0), tzinfo=tz),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz),
    )


def _describe_dsn(dsn: str) -> str:
    """host:port/dbname only, so a password in the DSN never reaches the logs."""
    try:
        from psycopg2.extensions import parse_dsn

        parts = parse_dsn(dsn)
    except Exception:  # a description must never fail the run
        return "postgres"
    host = parts.get("host", "localhost")
    return f"postgres {host}:{parts.get('port', '5432')}/{parts.get('dbname', '')}"


def _describe_mysql_dsn(dsn: str) -> str:
    """The MySQL twin of _describe_dsn: host:port/database, never the password."""
    try:
        args = _mysql_connect_args(dsn)
    except ValueError:
        return "mysql"
    return f"mysql {args['host']}:{args['port']}/{args['database']}"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Seed deterministic synthetic Brazilian leads.")
    dest = parser.add_mutually_exclusive_group(required=True)
    dest.add_argument("--sqlite", metavar="PATH", help="SQLite database file")
    dest.add_argument("--postgres", metavar="DSN", help="PostgreSQL DSN (libpq string or URI)")
    dest.add_argument("--mysql", metavar="DSN", help="MySQL/MariaDB URI: mysql://user[:password]@host[:port]/db")
    dest.add_argument("--csv", metavar="PATH", help="CSV file (overwritten)")
    parser.add_argument("--n", type=int, default=500, help="number of leads (default 500)")
    parser.add_argument("--day", type=date.fromisoformat, required=True, help="local calendar day, YYYY-MM-DD")
    parser.add_argument("--timezone", default="America/Sao_Paulo", help="IANA zone of --day")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--bad-ratio", type=float, default=0.04)
    parser.add_argument("--id-prefix", default="L", help="lead_id prefix (default L)")
    parser.add_argument("--replace", action="store_true", help="delete existing leads first")
    args = parser.parse_args(argv)
    if args.n < 0:
        parser.error("--n must be >= 0")
    if not 0.0 <= args.bad_ratio <= 1.0:
        parser.error("--bad-ratio must be within [0, 1]")
    try:
        args.tz = resolve_timezone(args.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        parser.error(f"unknown --timezone {args.timezone!r}: {exc}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Generate one local day of leads and seed the chosen destination; print one summary line."""
    args = _parse_args(argv)
    start, end = local_day_bounds(args.day, args.tz)
    rows = generate_leads(
        args.n, start=start, end=end, seed=args.seed, bad_ratio=args.bad_ratio, id_prefix=args.id_prefix
    )
    if args.sqlite:
        count, where = seed_sqlite(args.sqlite, rows, replace=args.replace), f"sqlite {args.sqlite}"
    elif args.postgres:
        count, where = seed_postgres(args.postgres, rows, replace=args.replace), _describe_dsn(args.postgres)
    elif args.mysql:
        count, where = seed_mysql(args.mysql, rows, replace=args.replace), _describe_mysql_dsn(args.mysql)
    else:
        count, where = write_csv(args.csv, rows), f"csv {args.csv}"
    print(f"seeded {count} leads into {where} (day {args.day} {args.timezone}, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
