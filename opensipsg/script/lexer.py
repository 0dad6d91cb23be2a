"""Tokenizer for OpenSIPS 1.6 routing scripts (reference section 1.2).

Produces a flat list of :class:`Token` ending with an ``EOF`` token. Every token
keeps its 1-based line and column and its offsets in the source, so the parser
can rebuild unquoted raw text such as ``udp:1.2.3.4:5060`` from adjacent tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

from opensipsg.errors import ScriptError

# Token kinds.
NUM = "NUM"  # value: int
STR = "STR"  # value: str after escape processing
ID = "ID"  # value: the identifier text
PV = "PV"  # value: the whole pseudo-variable text, "$..." (parsed by the parser)
OP = "OP"  # value: operator / punctuation text (word aliases normalised)
EOF = "EOF"

# Longest first, so that "&&" wins over "&" and ":=" over ":".
OPERATORS = (
    ":=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "==", "!=", "=~", "!~", ">=", "<=", "&&", "||", "<<", ">>",
    ">", "<", "!", "&", "|", "^", "~", "+", "-", "*", "/", "%", "=",
    "(", ")", "{", "}", "[", "]", ",", ";", ":", ".",
)

# Word aliases of logical operators.
WORD_OPERATORS = {"and": "&&", "or": "||", "not": "!"}

_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "a": "\a", "t": "\t", '"': '"', "\\": "\\"}
_HEX = "0123456789abcdefABCDEF"
_OCT = "01234567"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    value: str | int
    text: str  # the exact source text of the token
    line: int
    col: int
    start: int  # offset of the first character in the source
    end: int  # offset just past the last character

    def describe(self) -> str:
        """Short human description for error messages."""
        if self.kind == EOF:
            return "end of file"
        text = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        if self.kind == STR:
            return f"string {text}"
        return f"'{text}'"


def is_name_start(ch: str) -> bool:
    return ch.isascii() and (ch.isalpha() or ch == "_")


def is_name_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch == "_")


def _balanced_end(text: str, open_at: int) -> int:
    """Index just past the ')' that closes the '(' at ``open_at``; -1 if none."""
    depth = 0
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    return -1


def scan_pv(text: str, start: int) -> int:
    """End offset of the pseudo-variable starting with '$' at ``start``; -1 if none.

    Recognises ``$name``, ``$name(...)`` and ``$(...)`` with balanced
    parentheses. Names are letters, digits, '_' and '.', minus trailing dots
    (so ``"$ru."`` in a format string ends the name before the dot).
    """
    i = start + 1
    if i >= len(text):
        return -1
    if text[i] == "(":
        end = _balanced_end(text, i)
        return end if end > i + 2 else -1
    if not is_name_start(text[i]):
        return -1
    j = i
    while j < len(text) and (is_name_char(text[j]) or text[j] == "."):
        j += 1
    while text[j - 1] == ".":
        j -= 1
    if j < len(text) and text[j] == "(":
        return _balanced_end(text, j)
    return j


class _Lexer:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.i = 0
        self.line = 1
        self.col = 1
        self.tokens: list[Token] = []

    def error(self, message: str, line: int, col: int) -> ScriptError:
        return ScriptError(message, self.file, line, col)

    def advance(self, n: int = 1) -> None:
        for _ in range(n):
            if self.text[self.i] == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
            self.i += 1

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < len(self.text) else ""

    def emit(self, kind: str, value: str | int, start: int, line: int, col: int) -> None:
        self.tokens.append(Token(kind, value, self.text[start:self.i], line, col, start, self.i))

    def run(self) -> list[Token]:
        text = self.text
        while self.i < len(text):
            ch = text[self.i]
            if ch in " \t\r\n\f\v":
                self.advance()
            elif ch == "\\" and self.peek(1) in ("\n", "\r"):
                self.advance(3 if self.peek(1) == "\r" and self.peek(2) == "\n" else 2)
            elif ch == "#":
                while self.i < len(text) and text[self.i] != "\n":
                    self.advance()
            elif ch == "/" and self.peek(1) == "*":
                self.block_comment()
            elif ch == '"':
                self.double_quoted()
            elif ch == "'":
                self.single_quoted()
            elif "0" <= ch <= "9":
                self.number()
            elif is_name_start(ch):
                self.identifier()
            elif ch == "$":
                self.pseudo_variable()
            else:
                self.operator()
        self.tokens.append(Token(EOF, "", "", self.line, self.col, self.i, self.i))
        return self.tokens

    def block_comment(self) -> None:
        line, col = self.line, self.col
        depth = 0
        while self.i < len(self.text):
            if self.peek() == "/" and self.peek(1) == "*":
                depth += 1
                self.advance(2)
            elif self.peek() == "*" and self.peek(1) == "/":
                depth -= 1
                self.advance(2)
                if depth == 0:
                    return
            else:
                self.advance()
        raise self.error("unterminated comment", line, col)

    def double_quoted(self) -> None:
        start, line, col = self.i, self.line, self.col
        self.advance()
        out: list[str] = []
        text = self.text
        while True:
            if self.i >= len(text):
                raise self.error("unterminated string", line, col)
            ch = text[self.i]
            if ch == '"':
                self.advance()
                break
            if ch != "\\":
                out.append(ch)
                self.advance()
                continue
            nxt = self.peek(1)
            if nxt in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[nxt])
                self.advance(2)
            elif nxt == "\n":  # line continuation inside a string
                self.advance(2)
            elif nxt == "\r" and self.peek(2) == "\n":
                self.advance(3)
            elif nxt == "x" and self.peek(2) in _HEX and self.peek(2):
                n = 2 if self.peek(3) and self.peek(3) in _HEX else 1
                out.append(chr(int(text[self.i + 2:self.i + 2 + n], 16)))
                self.advance(2 + n)
            elif nxt and nxt in _OCT and self.peek(2) and self.peek(2) in _OCT:
                n = 3 if self.peek(3) and self.peek(3) in _OCT else 2
                out.append(chr(int(text[self.i + 1:self.i + 1 + n], 8) & 0xFF))
                self.advance(1 + n)
            else:
                # Unknown escapes and a single "\digit" (subst back-references)
                # keep the backslash.
                out.append("\\")
                self.advance()
        self.emit(STR, "".join(out), start, line, col)

    def single_quoted(self) -> None:
        start, line, col = self.i, self.line, self.col
        end = self.text.find("'", self.i + 1)
        if end < 0:
            raise self.error("unterminated string", line, col)
        value = self.text[self.i + 1:end]
        self.advance(end + 1 - self.i)
        self.emit(STR, value, start, line, col)

    def number(self) -> None:
        start, line, col = self.i, self.line, self.col
        text = self.text
        if text[self.i] == "0" and self.peek(1) in ("x", "X") and self.peek(2) and self.peek(2) in _HEX:
            self.advance(2)
            while self.peek() and self.peek() in _HEX:
                self.advance()
            value = int(text[start + 2:self.i], 16)
        else:
            while "0" <= self.peek() <= "9" and self.peek():
                self.advance()
            digits = text[start:self.i]
            if len(digits) > 1 and digits[0] == "0":
                # "08" is not octal; read it as decimal rather than failing
                # (such digits turn up in unquoted IPv6 addresses).
                value = int(digits, 8) if all(d in _OCT for d in digits) else int(digits)
            else:
                value = int(digits)
        self.emit(NUM, value, start, line, col)

    def identifier(self) -> None:
        start, line, col = self.i, self.line, self.col
        while is_name_char(self.peek()):
            self.advance()
        word = self.text[start:self.i]
        if word in WORD_OPERATORS:
            self.emit(OP, WORD_OPERATORS[word], start, line, col)
        else:
            self.emit(ID, word, start, line, col)

    def pseudo_variable(self) -> None:
        start, line, col = self.i, self.line, self.col
        end = scan_pv(self.text, self.i)
        if end < 0:
            nxt = self.peek(1)
            if nxt == "(" and self.peek(2) == ")":
                raise self.error("empty pseudo-variable '$()'", line, col)
            if nxt == "(" or is_name_start(nxt):
                raise self.error("unterminated pseudo-variable (unbalanced parentheses)", line, col)
            raise self.error("invalid pseudo-variable: '$' must be followed by a name or '('", line, col)
        self.advance(end - self.i)
        self.emit(PV, self.text[start:end], start, line, col)

    def operator(self) -> None:
        start, line, col = self.i, self.line, self.col
        for op in OPERATORS:
            if self.text.startswith(op, self.i):
                self.advance(len(op))
                self.emit(OP, op, start, line, col)
                return
        ch = self.text[self.i]
        shown = ch if ch.isprintable() else repr(ch)
        raise self.error(f"invalid character '{shown}'", line, col)


def tokenize(text: str, file: str = "<cfg>") -> list[Token]:
    """Split ``text`` into tokens; raises ScriptError on lexical errors."""
    return _Lexer(text, file).run()
