"""Phone numbers are personal data: logs show only enough digits to tell two numbers apart."""

from __future__ import annotations

from collections.abc import Iterable


def mask_phone(number: str | None) -> str:
    """``+5511987654321`` → ``+55*******4321``: country code and last four digits only."""
    if not number:
        return "<none>"
    text = str(number)
    if (len(text) - 1 if text[:1] == "+" and text[1:].isdigit() else sum(map(str.isdigit, text))) <= 4:
        return "*" * len(text)
    # The country code is kept only when at least three digits stay hidden between it and the tail.
    keep_head = 3 if text.startswith("+") and len(text) >= 10 else 0
    head, tail = text[:keep_head], text[-4:]
    return head + "*" * (len(text) - keep_head - 4) + tail


def mask_phones(numbers: Iterable[str]) -> list[str]:
    """``mask_phone`` of each number; an E.164 text (``+`` and 9 to 15 digits), the usual case, takes a
    short path that gives the same text, since a batch of 10,000 is masked on every claim."""
    return [
        f"{text[:3]}{_STARS[len(text) - 7]}{text[-4:]}"
        if 10 <= len(text) <= 16 and text[0] == "+" and text[1:].isdigit()
        else mask_phone(text)
        for text in numbers
    ]


_STARS = ["*" * n for n in range(10)]
