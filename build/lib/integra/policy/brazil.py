"""Brazilian area codes (DDD): which state a number belongs to, and that state's time zones.

The DDD plan is Anatel's (https://www.gov.br/anatel/pt-br/regulado/numeracao/codigos-nacionais);
the zones are tzdata's (``zone1970.tab``: America/Sao_Paulo is "GO, DF, MG, ES, RJ, SP, PR, SC, RS",
America/Fortaleza "MA, PI, CE, RN, PB", and so on). Mobile numbers keep the DDD of the area where
the line was bought, so a state is the best guess there is, not a certainty: that is why a
number's zones are its phonenumbers zones *and* its state's, and its window their intersection.
"""

from __future__ import annotations

#: DDD → state (UF).
STATE_BY_DDD: dict[str, str] = {
    **dict.fromkeys(("11", "12", "13", "14", "15", "16", "17", "18", "19"), "SP"),
    **dict.fromkeys(("21", "22", "24"), "RJ"),
    **dict.fromkeys(("27", "28"), "ES"),
    **dict.fromkeys(("31", "32", "33", "34", "35", "37", "38"), "MG"),
    **dict.fromkeys(("41", "42", "43", "44", "45", "46"), "PR"),
    **dict.fromkeys(("47", "48", "49"), "SC"),
    **dict.fromkeys(("51", "53", "54", "55"), "RS"),
    "61": "DF",
    **dict.fromkeys(("62", "64"), "GO"),
    "63": "TO",
    **dict.fromkeys(("65", "66"), "MT"),
    "67": "MS",
    "68": "AC",
    "69": "RO",
    **dict.fromkeys(("71", "73", "74", "75", "77"), "BA"),
    "79": "SE",
    **dict.fromkeys(("81", "87"), "PE"),
    "82": "AL",
    "83": "PB",
    "84": "RN",
    **dict.fromkeys(("85", "88"), "CE"),
    **dict.fromkeys(("86", "89"), "PI"),
    **dict.fromkeys(("91", "93", "94"), "PA"),
    **dict.fromkeys(("92", "97"), "AM"),
    "95": "RR",
    "96": "AP",
    **dict.fromkeys(("98", "99"), "MA"),
}

#: State → its tzdata zone(s).
ZONES_BY_STATE: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("GO", "DF", "MG", "ES", "RJ", "SP", "PR", "SC", "RS"), ("America/Sao_Paulo",)),
    **dict.fromkeys(("MA", "PI", "CE", "RN", "PB"), ("America/Fortaleza",)),
    "PE": ("America/Recife",),
    **dict.fromkeys(("AL", "SE"), ("America/Maceio",)),
    "BA": ("America/Bahia",),
    "TO": ("America/Araguaina",),
    **dict.fromkeys(("PA", "AP"), ("America/Belem",)),
    "MS": ("America/Campo_Grande",),
    "MT": ("America/Cuiaba",),
    "RO": ("America/Porto_Velho",),
    "RR": ("America/Boa_Vista",),
    "AM": ("America/Manaus",),
    "AC": ("America/Rio_Branco",),
}

#: Area codes that reach more than their state's main zone: western Amazonas (UTC−5) shares DDD 97
#: with Manaus time; DDD 93 is western Pará (America/Santarem).
ZONES_BY_DDD: dict[str, tuple[str, ...]] = {
    "97": ("America/Manaus", "America/Eirunepe"),
    "93": ("America/Santarem",),
}


def state_of(e164: str) -> str | None:
    """The state of a Brazilian E.164 number (``+55`` + DDD …), else None."""
    return STATE_BY_DDD.get(e164[3:5]) if e164.startswith("+55") else None


def zones_of(e164: str) -> tuple[str, ...]:
    """The zones a Brazilian number's area code may be in (empty for other countries or unknown DDDs)."""
    if not e164.startswith("+55"):
        return ()
    ddd = e164[3:5]
    if ddd in ZONES_BY_DDD:
        return ZONES_BY_DDD[ddd]
    state = STATE_BY_DDD.get(ddd)
    return ZONES_BY_STATE[state] if state else ()
