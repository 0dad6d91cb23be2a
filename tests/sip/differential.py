"""Helpers for differential tests: a fast path must agree with the full parser."""
from __future__ import annotations

import random
from typing import Any, Callable

from opensipsg.errors import ParseError


def text_mutations(seeds: list[str], alphabet: str, count: int, seed: int = 99) -> list[str]:
    """The seeds, then ``count`` copies of them with 1-3 characters inserted or deleted."""
    rng = random.Random(seed)
    out = list(seeds)
    for _ in range(count):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and text:
                del text[min(pos, len(text) - 1)]
            else:
                text.insert(pos, rng.choice(alphabet))
        out.append("".join(text))
    return out


def outcome(parse: Callable[[str], Any], text: str) -> tuple[Any, Any]:
    """(value, its text) or ("error", the ParseError's status)."""
    try:
        value = parse(text)
    except ParseError as exc:
        return ("error", exc.status)
    return (value, str(value))
