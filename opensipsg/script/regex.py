"""POSIX extended regular expressions (as OpenSIPS 1.6 compiles them) on top of ``re``.

OpenSIPS compiles script regexes with ``REG_EXTENDED|REG_ICASE|REG_NOSUB`` and
uses them as unanchored searches.  We translate the parts of ERE syntax that
Python spells differently -- bracket expressions with ``[:class:]`` names and
backslashes that are literal inside brackets -- and compile case-insensitively.
``\\d`` and friends are *not* ERE; they keep their Python meaning here (a
lenient superset: OpenSIPS would treat ``\\d`` as a literal ``d``).
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["compile_ere", "translate_ere"]

_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v",
    "blank": " \\t",
    "punct": "!-/:-@\\[-`{-~",
    "print": " -~",
    "graph": "!-~",
    "cntrl": "\\x00-\\x1f\\x7f",
    "xdigit": "0-9A-Fa-f",
    "word": "a-zA-Z0-9_",
}


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting at ``pattern[i] == '['``."""
    n = len(pattern)
    out = ["["]
    j = i + 1
    if j < n and pattern[j] == "^":
        out.append("^")
        j += 1
    if j < n and pattern[j] == "]":  # a leading ']' is literal
        out.append("\\]")
        j += 1
    while j < n:
        ch = pattern[j]
        if ch == "]":
            out.append("]")
            return "".join(out), j + 1
        if ch == "[" and j + 1 < n and pattern[j + 1] in ":.=":
            kind = pattern[j + 1]
            end = pattern.find(kind + "]", j + 2)
            if end < 0:
                raise re.error(f"unterminated [{kind} in bracket expression")
            name = pattern[j + 2:end]
            if kind == ":":
                if name not in _CLASSES:
                    raise re.error(f"unknown character class [:{name}:]")
                out.append(_CLASSES[name])
            else:  # collating element / equivalence class: the character itself
                out.append(re.escape(name))
            j = end + 2
            continue
        if ch in "\\[":
            out.append("\\" + ch)
        else:
            out.append(ch)
        j += 1
    raise re.error("unterminated bracket expression")


def translate_ere(pattern: str) -> str:
    """POSIX ERE text -> Python ``re`` text."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i:i + 2])
            i += 2
        elif ch == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
        elif ch == "(" and i + 1 < n and pattern[i + 1] == "?":
            out.append("(\\?")  # ERE has no (?...) extensions
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def compile_ere(pattern: str) -> re.Pattern[str]:
    """Compile an ERE case-insensitively; use ``.search`` (unanchored). Raises re.error."""
    return re.compile(translate_ere(pattern), re.IGNORECASE | re.DOTALL)
