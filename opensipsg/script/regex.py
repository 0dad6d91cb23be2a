"""POSIX extended regular expressions (as OpenSIPS 1.6 compiles them) on top of ``re``.

This is the one POSIX-ERE-to-Python translator; the script compiler and the
modules (textops, group, rr...) all use it.

OpenSIPS compiles script regexes with ``REG_EXTENDED|REG_ICASE|REG_NOSUB`` and
uses them as unanchored searches; module fixups (textops) add ``REG_NEWLINE``.
We translate the parts of ERE syntax that Python spells differently:

* bracket expressions: ``[[:digit:]]`` style classes, ``[=a=]``/``[.a.]``,
  backslash and ``[`` literal inside brackets, ``]`` literal when first;
* ``*``, ``+``, ``?``, ``{`` where nothing precedes them are literals (so
  ``(?...)`` is a group starting with a literal ``?``: ERE has no extensions);
* backslash escapes, in one of two dialects:

  - default (script operators): ``\\d`` and friends are *not* ERE but keep
    their Python meaning (a lenient superset: OpenSIPS would treat ``\\d`` as
    a literal ``d``);
  - ``gnu_escapes=True`` (glibc, as the textops module needs): the GNU escapes
    ``\\w \\W \\s \\S \\b \\B \\< \\> \\` \\'`` keep their meaning,
    back-references ``\\1``.. stay, any other escaped character is that
    character.

With ``newline`` (REG_NEWLINE) a non-matching list ``[^...]`` never matches a
line end and the pattern compiles with ``re.M`` (``^``/``$`` at line
boundaries, ``.`` not matching a line end); without it, with ``re.S``.
"""
from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["compile_ere", "translate_ere", "compile_posix_ere", "posix_ere_to_python"]

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
# GNU regex escapes that keep a meaning outside brackets
_GNU_ESCAPES = {"w": "\\w", "W": "\\W", "s": "\\s", "S": "\\S", "b": "\\b", "B": "\\B",
                "<": "\\b(?=\\w)", ">": "\\b(?<=\\w)", "`": "\\A", "'": "\\Z"}


def _bracket(pattern: str, i: int, newline: bool) -> tuple[str, int]:
    """Translate the bracket expression starting at ``pattern[i] == '['``; returns (text, next index)."""
    n = len(pattern)
    out = ["["]
    j = i + 1
    if j < n and pattern[j] == "^":
        out.append("^")
        j += 1
        if newline:
            out.append("\\n")
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
        if ch in "\\[&~|":  # literal in ERE; '&&', '~~', '||' are set operations to Python
            out.append("\\" + ch)
        else:
            out.append(ch)
        j += 1
    raise re.error("unterminated bracket expression")


def _escape(nxt: str, gnu_escapes: bool) -> str:
    """The Python text for the escape ``\\`` + ``nxt`` outside brackets."""
    if not gnu_escapes:
        return "\\" + nxt
    if nxt in _GNU_ESCAPES:
        return _GNU_ESCAPES[nxt]
    if nxt.isdigit() and nxt != "0":
        return "\\" + nxt
    return re.escape(nxt)


def translate_ere(pattern: str, newline: bool = False, gnu_escapes: bool = False) -> str:
    """POSIX ERE text -> Python ``re`` text (see the module docstring for the options)."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    at_start = True  # nothing to repeat here (start, after '(', '|' or '^')
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 >= n:
                raise re.error("trailing backslash")
            out.append(_escape(pattern[i + 1], gnu_escapes))
            i += 2
            at_start = False
        elif ch == "[":
            text, i = _bracket(pattern, i, newline)
            out.append(text)
            at_start = False
        elif ch in "*+?" and at_start:
            out.append("\\" + ch)
            i += 1
            at_start = False
        elif ch == "{" and at_start:
            out.append("\\{")
            i += 1
            # the glibc dialect (as textops always had it) leaves a quantifier
            # after this '{' literal too ('{+' is the text "{+"); the script
            # dialect lets it repeat the '{', as Python did before.
            at_start = gnu_escapes
        else:
            out.append(ch)
            at_start = ch in "(|^"
            i += 1
    return "".join(out)


@lru_cache(maxsize=1024)
def compile_ere(pattern: str, icase: bool = True, newline: bool = False,
                gnu_escapes: bool = False) -> re.Pattern[str]:
    """Compile an ERE (case-insensitively by default); use ``.search`` (unanchored). Raises re.error."""
    flags = (re.IGNORECASE if icase else 0) | (re.MULTILINE if newline else re.DOTALL)
    return re.compile(translate_ere(pattern, newline=newline, gnu_escapes=gnu_escapes), flags)


def posix_ere_to_python(pattern: str, newline: bool = False) -> str:
    """Translate an ERE in the glibc dialect (GNU escapes; see :func:`translate_ere`)."""
    return translate_ere(pattern, newline=newline, gnu_escapes=True)


def compile_posix_ere(pattern: str, icase: bool = True, newline: bool = True) -> re.Pattern[str]:
    """Compile an ERE the way 1.6 module fixups do (REG_ICASE, REG_NEWLINE by default; GNU escapes)."""
    return compile_ere(pattern, icase, newline, True)
