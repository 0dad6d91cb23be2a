"""Recursive-descent parser for OpenSIPS 1.6 routing scripts (reference section 1).

Public entry points: :func:`parse_config`, :func:`load_config`, :func:`parse_pv`
and :func:`parse_format`. Every syntax error is a ScriptError naming
file:line:col of the offending token.
"""
from __future__ import annotations

import re
from typing import Optional, Union

from opensipsg.errors import ScriptError
from opensipsg.script import ast
from opensipsg.script.ast import Pos
from opensipsg.script.lexer import EOF, ID, NUM, OP, PV, STR, Token, scan_pv, tokenize

ROUTE_KINDS = (
    "route", "branch_route", "failure_route", "onreply_route",
    "error_route", "local_route", "startup_route", "timer_route",
)
# Legacy keyword operands of conditions (reference section 1.6).
CONDITION_KEYWORDS = frozenset({
    "method", "uri", "from_uri", "to_uri", "status", "src_ip", "dst_ip",
    "src_port", "dst_port", "proto", "af",
})
STATEMENT_KEYWORDS = frozenset({
    "if", "else", "while", "switch", "case", "default", "break", "esac",
    "return", "exit", "drop", "route",
})
BOOLEAN_WORDS = {
    "yes": 1, "true": 1, "on": 1, "enable": 1,
    "no": 0, "false": 0, "off": 0, "disable": 0,
}
ASSIGN_OPS = frozenset({"=", ":=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^="})
COMPARE_OPS = frozenset({"==", "!=", "=~", "!~", ">", "<", ">=", "<="})
BITWISE_OPS = frozenset({"&", "|", "^", "<<", ">>"})
ARITH_OPS = frozenset({"+", "-", "*", "/", "%"})
# Global parameters whose value is a whitespace-separated list of addresses.
LIST_GLOBALS = frozenset({"listen", "alias"})
# Punctuation that may continue unquoted text such as udp:10.0.0.1:5060.
_RAW_GLUE = frozenset({".", ":", "/", "-", "[", "]", "*"})
MAX_NESTING = 64  # deeper than any real script; keeps recursion far from the limit

_PV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_TRANSFORM_NAME = re.compile(r"[A-Za-z]+(\.[A-Za-z0-9_]+)+")
_INT = re.compile(r"[+-]?[0-9]+")


# --- pseudo-variables -----------------------------------------------------------

def _shift(pos: Pos, offset: int) -> Pos:
    return Pos(pos.file, pos.line, pos.col + offset)


def _closing(text: str, start: int, open_ch: str, close_ch: str) -> int:
    """Index of the ``close_ch`` matching ``open_ch`` at ``start``; -1 if none.

    Parentheses, brackets and braces nested inside are skipped as units.
    """
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack: list[str] = []
    for i in range(start, len(text)):
        ch = text[i]
        if ch in pairs:
            stack.append(pairs[ch])
        elif stack and ch == stack[-1]:
            stack.pop()
            if not stack:
                return i if ch == close_ch else -1
    return -1


def _split_top(text: str) -> list[str]:
    """Split on commas that are not nested in (), [] or {}."""
    parts: list[str] = []
    depth = 0
    last = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return parts


def _pv_or_text(text: str, pos: Pos) -> Union[str, ast.PVRef]:
    if text.startswith("$") and scan_pv(text, 0) == len(text):
        return parse_pv(text, pos)
    return text


def _transform(body: str, pos: Pos) -> ast.Transform:
    parts = _split_top(body)
    name = parts[0]
    if not _TRANSFORM_NAME.fullmatch(name):
        raise ScriptError(f"invalid transformation '{{{body}}}'", pos.file, pos.line, pos.col)
    raw_args = parts[1:]
    if name == "s.select" and len(raw_args) == 3 and raw_args[1:] == ["", ""]:
        raw_args = [raw_args[0], ","]  # {s.select,N,,}: the separator is a comma
    args: list[Union[str, int, ast.PVRef]] = []
    offset = len(name) + 2
    for raw in raw_args:
        if _INT.fullmatch(raw):
            args.append(int(raw))
        else:
            args.append(_pv_or_text(raw, _shift(pos, offset)))
        offset += len(raw) + 1
    return ast.Transform(name, tuple(args), pos)


def parse_pv(text: str, pos: Pos) -> ast.PVRef:
    """Parse one pseudo-variable such as ``$(avp(s:x)[1]{s.len})``."""

    def fail(message: str, offset: int = 0) -> ScriptError:
        at = _shift(pos, offset)
        return ScriptError(f"{message} in pseudo-variable '{text}'", at.file, at.line, at.col)

    if not text.startswith("$") or len(text) < 2:
        raise fail("expected '$'")
    wrapped = text[1] == "("
    if wrapped:
        if _closing(text, 1, "(", ")") != len(text) - 1:
            raise fail("unbalanced parentheses", 1)
        i, end = 2, len(text) - 1
    else:
        i, end = 1, len(text)

    context: Optional[str] = None
    if wrapped and text.startswith("<", i):
        close = text.find(">", i)
        if close < 0 or close > end or close == i + 1:
            raise fail("bad context prefix", i)
        context = text[i + 1:close]
        i = close + 1

    m = _PV_NAME.match(text, i, end)
    if not m:
        raise fail("missing name", i)
    name = m.group().rstrip(".")
    i += len(name)

    param: Union[str, ast.PVRef, None] = None
    if i < end and text[i] == "(":
        close = _closing(text, i, "(", ")")
        if close < 0 or close >= end + (0 if wrapped else 1):
            raise fail("unbalanced parentheses", i)
        inner = text[i + 1:close]
        if not inner:
            raise fail("empty parameter", i)
        param = _pv_or_text(inner, _shift(pos, i + 1))
        i = close + 1

    index: Union[int, str, ast.PVRef, None] = None
    transforms: list[ast.Transform] = []
    if wrapped:
        if i < end and text[i] == "[":
            close = _closing(text, i, "[", "]")
            if close < 0 or close >= end:
                raise fail("unterminated index", i)
            inner = text[i + 1:close]
            if inner == "*":
                index = "*"
            elif _INT.fullmatch(inner):
                index = int(inner)
            elif inner.startswith("$") and scan_pv(inner, 0) == len(inner):
                index = parse_pv(inner, _shift(pos, i + 1))
            else:
                raise fail(f"bad index '[{inner}]'", i)
            i = close + 1
        while i < end and text[i] == "{":
            close = _closing(text, i, "{", "}")
            if close < 0 or close >= end:
                raise fail("unterminated transformation", i)
            transforms.append(_transform(text[i + 1:close], _shift(pos, i)))
            i = close + 1
    if i != end:
        raise fail(f"unexpected '{text[i]}'", i)
    return ast.PVRef(name, param, index, tuple(transforms), context, pos, text)


def parse_format(text: str, pos: Pos) -> tuple[Union[str, ast.PVRef], ...]:
    """Split a format string into literal parts and PVRefs.

    ``pos`` is the position of the string token (its opening quote). A '$'
    that does not start a valid pseudo-variable stays literal.
    """
    parts: list[Union[str, ast.PVRef]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        j = text.find("$", i)
        if j < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:j])
        end = scan_pv(text, j)
        if end > 0:
            line_start = text.rfind("\n", 0, j)
            if line_start < 0:
                at = Pos(pos.file, pos.line, pos.col + 1 + j)
            else:
                at = Pos(pos.file, pos.line + text.count("\n", 0, j), j - line_start)
            try:
                pv = parse_pv(text[j:end], at)
            except ScriptError:
                pass
            else:
                if "".join(literal):
                    parts.append("".join(literal))
                literal = []
                parts.append(pv)
                i = end
                continue
        literal.append("$")
        i = j + 1
    if "".join(literal):
        parts.append("".join(literal))
    return tuple(parts)


# --- the parser -------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.tokens = tokenize(text, file)
        self.k = 0
        self.depth = 0
        self.switch_depth = 0
        self.globals: list[ast.GlobalParam] = []
        self.loadmodules: list[ast.LoadModule] = []
        self.modparams: list[ast.ModParam] = []
        self.tables: dict[str, dict[str, ast.Route]] = {
            "route": {}, "branch_route": {}, "failure_route": {}, "onreply_route": {},
        }
        self.singles: dict[str, Optional[ast.Route]] = {
            "error_route": None, "local_route": None, "startup_route": None,
        }
        self.timer_routes: dict[str, ast.TimerRoute] = {}

    # token helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.k]

    def peek(self, n: int = 1) -> Token:
        return self.tokens[min(self.k + n, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.k]
        if tok.kind != EOF:
            self.k += 1
        return tok

    def pos(self, tok: Token) -> Pos:
        return Pos(self.file, tok.line, tok.col)

    def error(self, message: str, tok: Optional[Token] = None) -> ScriptError:
        tok = tok or self.tok
        return ScriptError(message, self.file, tok.line, tok.col)

    def unexpected(self, where: str = "", tok: Optional[Token] = None) -> ScriptError:
        tok = tok or self.tok
        suffix = f" {where}" if where else ""
        return self.error(f"unexpected {tok.describe()}{suffix}", tok)

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == OP and self.tok.value in ops

    def at_word(self, *words: str) -> bool:
        return self.tok.kind == ID and self.tok.value in words

    def expect_op(self, op: str, context: str) -> Token:
        if self.at_op(op):
            return self.advance()
        if op == ";":
            raise self.error(f"missing ';' {context} (found {self.tok.describe()})")
        raise self.error(f"expected '{op}' {context}, found {self.tok.describe()}")

    def optional_semicolon(self) -> None:
        if self.at_op(";"):
            self.advance()

    @staticmethod
    def adjacent(a: Token, b: Token) -> bool:
        return a.end == b.start and b.kind != EOF

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error("nesting too deep")

    # top level

    def parse(self) -> ast.Config:
        while self.tok.kind != EOF:
            tok = self.tok
            if self.at_op(";"):
                self.advance()
            elif tok.kind == ID and tok.value == "loadmodule":
                self.loadmodule()
            elif tok.kind == ID and tok.value == "modparam":
                self.modparam()
            elif tok.kind == ID and tok.value in ROUTE_KINDS:
                self.route_block()
            elif tok.kind == ID and self.peek().kind == OP and self.peek().value == "=":
                self.global_param()
            elif tok.kind == ID:
                raise self.error(
                    f"unexpected '{tok.value}' at top level: expected 'name = value', "
                    "loadmodule, modparam or a route block")
            else:
                raise self.unexpected("at top level")
        return ast.Config(
            file=self.file,
            globals=tuple(self.globals),
            loadmodules=tuple(self.loadmodules),
            modparams=tuple(self.modparams),
            routes=self.tables["route"],
            branch_routes=self.tables["branch_route"],
            failure_routes=self.tables["failure_route"],
            onreply_routes=self.tables["onreply_route"],
            error_route=self.singles["error_route"],
            local_route=self.singles["local_route"],
            startup_route=self.singles["startup_route"],
            timer_routes=self.timer_routes,
        )

    def loadmodule(self) -> None:
        kw = self.advance()
        if self.tok.kind != STR:
            raise self.error(f"loadmodule needs a quoted module path, found {self.tok.describe()}")
        path = str(self.advance().value)
        self.loadmodules.append(ast.LoadModule(path, self.pos(kw)))
        self.optional_semicolon()

    def modparam(self) -> None:
        kw = self.advance()
        self.expect_op("(", "after 'modparam'")
        module = self.quoted("module name of modparam")
        self.expect_op(",", "after the module name of modparam")
        param = self.quoted("parameter name of modparam")
        self.expect_op(",", "after the parameter name of modparam")
        value: Union[int, str]
        number = self.signed_number()
        if number is not None:
            value = number
        elif self.tok.kind == STR:
            value = str(self.advance().value)
        elif self.tok.kind == ID and self.tok.value in BOOLEAN_WORDS:
            value = BOOLEAN_WORDS[str(self.advance().value)]
        else:
            raise self.error(
                f"modparam value must be a quoted string or a number, found {self.tok.describe()}")
        self.expect_op(")", "to close modparam")
        self.modparams.append(ast.ModParam(module, param, value, self.pos(kw)))
        self.optional_semicolon()

    def quoted(self, what: str) -> str:
        if self.tok.kind != STR:
            raise self.error(f"expected a quoted {what}, found {self.tok.describe()}")
        return str(self.advance().value)

    def signed_number(self) -> Optional[int]:
        """Consume ``[+-]NUMBER`` if present."""
        tok = self.tok
        if tok.kind == NUM:
            self.advance()
            return int(tok.value)
        if self.at_op("+", "-") and self.peek().kind == NUM:
            self.advance()
            value = int(self.advance().value)
            return -value if tok.value == "-" else value
        return None

    def global_param(self) -> None:
        name_tok = self.advance()
        name = str(name_tok.value)
        self.advance()  # '='
        tok = self.tok
        value: Union[int, str]
        if name in LIST_GLOBALS:
            value = self.address_list(name)
        elif tok.kind in (NUM, ID, STR) and not self.continues(tok, self.peek()):
            self.advance()
            if tok.kind == ID and tok.value in BOOLEAN_WORDS:
                value = BOOLEAN_WORDS[str(tok.value)]
            else:
                value = tok.value
        elif (self.at_op("+", "-") and self.peek().kind == NUM
              and self.adjacent(tok, self.peek()) and not self.continues(self.peek(), self.peek(2))):
            number = self.signed_number()
            assert number is not None
            value = number
        elif self.starts_phrase():
            value = self.phrase()
            if self.at_op("{"):  # e.g. dst_blacklist = name:{ (...), ... }
                value += self.braced_text()
        else:
            raise self.error(f"missing value for '{name}', found {tok.describe()}")
        self.globals.append(ast.GlobalParam(name, value, self.pos(name_tok)))
        self.optional_semicolon()

    def address_list(self, name: str) -> str:
        if not self.starts_phrase():
            raise self.error(f"missing value for '{name}', found {self.tok.describe()}")
        phrases = [self.phrase()]
        line = self.tokens[self.k - 1].line
        while self.tok.line == line and self.starts_phrase():
            phrases.append(self.phrase())
            line = self.tokens[self.k - 1].line
        return " ".join(phrases)

    def starts_phrase(self) -> bool:
        tok = self.tok
        return tok.kind in (NUM, ID, STR) or (tok.kind == OP and tok.value in ("[", "*"))

    def phrase(self) -> str:
        """Unquoted text made of adjacent tokens: udp:127.0.0.1:5060, "x":5060."""
        first = self.advance()
        parts = [str(first.value) if first.kind == STR else first.text]
        prev = first
        while self.continues(prev, self.tok):
            prev = self.advance()
            parts.append(str(prev.value) if prev.kind == STR else prev.text)
        return "".join(parts)

    def continues(self, prev: Token, tok: Token) -> bool:
        """Whether ``tok`` glues onto ``prev`` in unquoted text."""
        return self.adjacent(prev, tok) and (
            tok.kind in (NUM, ID, STR) or (tok.kind == OP and tok.value in _RAW_GLUE))

    def braced_text(self) -> str:
        start = self.advance()
        depth = 1
        while depth:
            tok = self.advance()
            if tok.kind == EOF:
                raise self.error("missing '}' to close the block", start)
            if tok.kind == OP and tok.value == "{":
                depth += 1
            elif tok.kind == OP and tok.value == "}":
                depth -= 1
        return self.text[start.start:self.tokens[self.k - 1].end]

    # route blocks

    def route_name(self, kind: str) -> str:
        tok = self.tok
        if tok.kind == NUM:
            self.advance()
            return str(tok.value)
        if tok.kind in (ID, STR) and tok.value != "":
            self.advance()
            return str(tok.value)
        raise self.error(f"invalid name for {kind}: {tok.describe()}")

    def route_block(self) -> None:
        kw = self.advance()
        kind = str(kw.value)
        name = "0"
        interval = 0
        if kind in ("route", "onreply_route", "branch_route", "failure_route", "timer_route"):
            if self.at_op("["):
                self.advance()
                name = self.route_name(kind)
                if kind == "timer_route":
                    self.expect_op(",", "after the timer_route name (timer_route[name, seconds])")
                    number = self.signed_number()
                    if number is None or number <= 0:
                        raise self.error("timer_route interval must be a positive number of seconds")
                    interval = number
                self.expect_op("]", f"after the {kind} name")
            elif kind in ("branch_route", "failure_route", "timer_route"):
                usage = "timer_route[name, seconds]" if kind == "timer_route" else f"{kind}[name]"
                raise self.error(f"{kind} needs a name: {usage}")
        elif self.at_op("["):
            raise self.error(f"{kind} takes no name")
        if kind in self.singles or (name == "0" and kind in ("route", "onreply_route")):
            label = kind
        else:
            label = f"{kind}[{name}]"
        if not self.at_op("{"):
            raise self.error(f"expected '{{' to start {label}, found {self.tok.describe()}")
        body = self.block()
        pos = self.pos(kw)
        if kind == "timer_route":
            self.check_duplicate(label, self.timer_routes.get(name), kw)
            self.timer_routes[name] = ast.TimerRoute(name, interval, body, pos)
        elif kind in self.singles:
            self.check_duplicate(label, self.singles[kind], kw)
            self.singles[kind] = ast.Route(kind, name, body, pos)
        else:
            self.check_duplicate(label, self.tables[kind].get(name), kw)
            self.tables[kind][name] = ast.Route(kind, name, body, pos)

    def check_duplicate(self, label: str, first: Union[ast.Route, ast.TimerRoute, None],
                        tok: Token) -> None:
        if first is not None:
            raise self.error(f"duplicate definition of {label} (first defined at {first.pos})", tok)

    # statements

    def block(self) -> ast.Block:
        open_tok = self.advance()  # '{'
        self.enter()
        statements: list[ast.Stmt] = []
        while not self.at_op("}"):
            if self.tok.kind == EOF:
                raise self.error(
                    f"unexpected end of file: missing '}}' to close the block opened at "
                    f"line {open_tok.line}, column {open_tok.col}")
            stmt = self.statement()
            if stmt is not None:
                statements.append(stmt)
        self.advance()
        self.depth -= 1
        return ast.Block(tuple(statements), self.pos(open_tok))

    def body(self, owner: str) -> ast.Block:
        """The statement governed by if/else/while, always as a Block."""
        tok = self.tok
        if tok.kind == EOF:
            raise self.error(f"unexpected end of file: missing statement after {owner}")
        if self.at_op("{"):
            return self.block()
        self.enter()
        stmt = self.statement()
        self.depth -= 1
        return ast.Block(() if stmt is None else (stmt,), self.pos(tok))

    def statement(self) -> Optional[ast.Stmt]:
        tok = self.tok
        if self.at_op(";"):
            self.advance()
            return None
        if self.at_op("{"):
            return self.block()
        if tok.kind == PV:
            return self.assignment()
        if tok.kind != ID:
            raise self.unexpected()
        word = str(tok.value)
        if word == "if":
            return self.if_statement()
        if word == "while":
            return self.while_statement()
        if word == "switch":
            return self.switch_statement()
        if word in ("break", "esac"):
            if not self.switch_depth:
                raise self.error(f"'{word}' is only allowed inside a switch case")
            self.advance()
            self.expect_op(";", f"after '{word}'")
            return ast.Break(self.pos(tok))
        if word == "return":
            return self.return_statement()
        if word in ("exit", "drop"):
            self.advance()
            self.empty_parens(word)
            self.expect_op(";", f"after '{word}'")
            return ast.Exit(self.pos(tok)) if word == "exit" else ast.Drop(self.pos(tok))
        if word == "route":
            if self.peek().kind == OP and self.peek().value in ("[", "{"):
                raise self.error("route block inside another block (missing '}' before it?)")
            call = self.route_call()
            self.expect_op(";", f"after 'route({call.name})'")
            return call
        if word == "else":
            raise self.error("'else' without a matching 'if'")
        if word in ("case", "default"):
            raise self.error(f"'{word}' outside of a switch")
        if word in ROUTE_KINDS or word in ("loadmodule", "modparam"):
            raise self.error(f"'{word}' inside a route block (missing '}}' before it?)")
        nxt = self.peek()
        if nxt.kind == OP and nxt.value in ASSIGN_OPS:
            raise self.error(f"cannot assign to '{word}': only pseudo-variables ($...) "
                             "can be assigned")
        if nxt.kind == OP and nxt.value == "(":
            call = self.call()
        elif nxt.kind == OP and nxt.value == ";":
            self.advance()
            call = ast.Call(word, (), self.pos(tok))
        else:
            raise self.error(f"missing ';' or '(' after '{word}' (found {nxt.describe()})", nxt)
        self.expect_op(";", f"after '{word}(...)'")
        return call

    def empty_parens(self, word: str) -> None:
        if self.at_op("("):
            self.advance()
            self.expect_op(")", f"after '{word}(' ({word} takes no arguments)")

    def if_statement(self) -> ast.If:
        kw = self.advance()
        cond = self.condition("if")
        then = self.body("'if' condition")
        else_: Optional[ast.Block] = None
        if self.at_word("else"):
            self.advance()
            else_ = self.body("'else'")
        return ast.If(cond, then, else_, self.pos(kw))

    def while_statement(self) -> ast.While:
        kw = self.advance()
        cond = self.condition("while")
        body = self.body("'while' condition")
        return ast.While(cond, body, self.pos(kw))

    def condition(self, word: str) -> ast.Expr:
        if self.at_op("{", ";", "}") or self.tok.kind == EOF:
            raise self.error(f"missing condition after '{word}'")
        return self.expr()

    def switch_statement(self) -> ast.Switch:
        kw = self.advance()
        self.expect_op("(", "after 'switch'")
        if self.tok.kind != PV:
            raise self.error(f"switch needs a pseudo-variable, found {self.tok.describe()}")
        pv_tok = self.advance()
        pv = parse_pv(str(pv_tok.value), self.pos(pv_tok))
        self.expect_op(")", "after the switch variable")
        if not self.at_op("{"):
            raise self.error(f"expected '{{' after 'switch(...)', found {self.tok.describe()}")
        open_tok = self.advance()
        cases: list[ast.Case] = []
        default: Optional[ast.Block] = None
        self.switch_depth += 1
        self.enter()
        while not self.at_op("}"):
            tok = self.tok
            if self.at_word("case"):
                if default is not None:
                    raise self.error("'case' after 'default': default must be the last one")
                self.advance()
                label = self.case_label()
                self.expect_op(":", "after the case label")
                cases.append(ast.Case(label, self.case_body(tok), self.pos(tok)))
            elif self.at_word("default"):
                if default is not None:
                    raise self.error("second 'default' in switch")
                self.advance()
                self.expect_op(":", "after 'default'")
                default = self.case_body(tok)
            elif tok.kind == EOF:
                raise self.error(
                    f"unexpected end of file: missing '}}' to close the switch opened at "
                    f"line {open_tok.line}, column {open_tok.col}")
            else:
                raise self.error(f"expected 'case', 'default' or '}}' in switch, found {tok.describe()}")
        self.advance()
        self.depth -= 1
        self.switch_depth -= 1
        return ast.Switch(pv, tuple(cases), default, self.pos(kw))

    def case_label(self) -> Union[int, str]:
        number = self.signed_number()
        if number is not None:
            return number
        if self.tok.kind == STR:
            return str(self.advance().value)
        raise self.error(f"case label must be a number or a quoted string, found {self.tok.describe()}")

    def case_body(self, case_tok: Token) -> ast.Block:
        statements: list[ast.Stmt] = []
        while not (self.at_word("case", "default") or self.at_op("}") or self.tok.kind == EOF):
            stmt = self.statement()
            if stmt is not None:
                statements.append(stmt)
        return ast.Block(tuple(statements), self.pos(case_tok))

    def return_statement(self) -> ast.Return:
        kw = self.advance()
        value: Union[int, ast.PVRef, None] = None
        if self.at_op("("):
            self.advance()
            if not self.at_op(")"):
                value = self.return_value()
            self.expect_op(")", "after the return value")
        elif not self.at_op(";"):
            value = self.return_value()
        self.expect_op(";", "after 'return'")
        return ast.Return(value, self.pos(kw))

    def return_value(self) -> Union[int, ast.PVRef]:
        number = self.signed_number()
        if number is not None:
            return number
        if self.tok.kind == PV:
            tok = self.advance()
            return parse_pv(str(tok.value), self.pos(tok))
        raise self.error(f"return value must be a number or a pseudo-variable, found {self.tok.describe()}")

    def route_call(self) -> ast.RouteCall:
        kw = self.advance()
        self.expect_op("(", "after 'route'")
        name = self.route_name("route()")
        self.expect_op(")", "after the route name")
        return ast.RouteCall(name, self.pos(kw))

    def assignment(self) -> ast.Assign:
        tok = self.advance()
        target = parse_pv(str(tok.value), self.pos(tok))
        if target.transforms:
            raise self.error("transformations are not allowed on the left side of an assignment", tok)
        if not (self.tok.kind == OP and self.tok.value in ASSIGN_OPS):
            if self.at_op("=="):
                raise self.error("unexpected '==' after a pseudo-variable: use '=' to assign")
            raise self.error(f"expected an assignment operator after '{tok.text}', found {self.tok.describe()}")
        op = str(self.advance().value)
        value = self.expr()
        self.expect_op(";", f"after the assignment to '{tok.text}'")
        return ast.Assign(target, op, value, self.pos(tok))

    # function calls

    def call(self) -> ast.Call:
        name_tok = self.advance()
        name = str(name_tok.value)
        self.advance()  # '('
        args: list[ast.Arg] = []
        if self.at_op(")"):
            self.advance()
            return ast.Call(name, (), self.pos(name_tok))
        while True:
            args.append(self.argument(name))
            if self.at_op(","):
                self.advance()
            elif self.at_op(")"):
                self.advance()
                break
            elif self.tok.kind == EOF:
                raise self.error(f"unexpected end of file in arguments of '{name}': missing ')'")
            else:
                raise self.error(f"unexpected {self.tok.describe()} in arguments of '{name}'; "
                                 "expected ',' or ')'")
        return ast.Call(name, tuple(args), self.pos(name_tok))

    def glues(self) -> bool:
        """Whether the current token continues unquoted text started by the previous one."""
        nxt = self.peek()
        return nxt.kind == OP and nxt.value in _RAW_GLUE and self.adjacent(self.tok, nxt)

    def argument(self, name: str) -> ast.Arg:
        tok = self.tok
        pos = self.pos(tok)
        if tok.kind == STR:
            self.advance()
            return ast.Arg("str", str(tok.value), pos)
        if tok.kind == PV:
            self.advance()
            return ast.Arg("pv", parse_pv(str(tok.value), pos), pos)
        if self.at_op("+", "-") and self.peek().kind == NUM and self.adjacent(tok, self.peek()):
            number = self.signed_number()
            assert number is not None
            return ast.Arg("int", number, pos)
        if tok.kind in (NUM, ID):
            if self.glues():
                return ast.Arg("raw", self.phrase(), pos)
            self.advance()
            if tok.kind == NUM:
                return ast.Arg("int", int(tok.value), pos)
            return ast.Arg("ident", str(tok.value), pos)
        if self.at_op("[", "*"):
            return ast.Arg("raw", self.phrase(), pos)
        if tok.kind == EOF:
            raise self.error(f"unexpected end of file in arguments of '{name}': missing ')'")
        raise self.unexpected(f"in arguments of '{name}'")

    # expressions

    def expr(self) -> ast.Expr:
        """Logical level: && and || share one precedence, left-associative."""
        left = self.not_expr()
        while self.at_op("&&", "||"):
            op = self.advance()
            right = self.not_expr()
            left = ast.BoolOp(str(op.value), left, right, self.pos(op))
        return left

    def not_expr(self) -> ast.Expr:
        if self.at_op("!"):
            op = self.advance()
            self.enter()
            inner = self.not_expr()
            self.depth -= 1
            return ast.Not(inner, self.pos(op))
        return self.comparison()

    def comparison(self) -> ast.Expr:
        left = self.bitwise()
        if self.tok.kind == OP and self.tok.value in COMPARE_OPS:
            op = self.advance()
            right = self.bitwise()
            if self.tok.kind == OP and self.tok.value in COMPARE_OPS:
                raise self.error("comparisons cannot be chained; use parentheses")
            return ast.Compare(str(op.value), left, right, self.pos(op))
        if self.at_op("="):
            raise self.error("unexpected '=' in expression: use '==' to compare")
        return left

    def bitwise(self) -> ast.Expr:
        left = self.arith()
        while self.tok.kind == OP and self.tok.value in BITWISE_OPS:
            op = self.advance()
            right = self.arith()
            left = ast.Arith(str(op.value), left, right, self.pos(op))
        return left

    def arith(self) -> ast.Expr:
        """+ - * / % share one precedence level (1+2*3 is (1+2)*3)."""
        left = self.unary()
        while self.tok.kind == OP and self.tok.value in ARITH_OPS:
            op = self.advance()
            right = self.unary()
            left = ast.Arith(str(op.value), left, right, self.pos(op))
        return left

    def unary(self) -> ast.Expr:
        tok = self.tok
        if self.at_op("~"):
            self.advance()
            self.enter()
            inner = self.unary()
            self.depth -= 1
            return ast.BitNot(inner, self.pos(tok))
        if self.at_op("+", "-"):
            number = self.signed_number()
            if number is None:
                raise self.error(f"expected a number after '{tok.value}', found {self.peek().describe()}")
            return ast.Const(number, self.pos(tok))
        return self.primary()

    def primary(self) -> ast.Expr:
        tok = self.tok
        pos = self.pos(tok)
        if self.at_op("(", "["):
            close = ")" if tok.value == "(" else "]"
            self.advance()
            self.enter()
            inner = self.expr()
            self.depth -= 1
            self.expect_op(close, f"to match '{tok.value}' at line {tok.line}, column {tok.col}")
            return inner if close == ")" else ast.Test(inner, pos)
        if tok.kind == STR:
            self.advance()
            return ast.Const(str(tok.value), pos)
        if tok.kind == PV:
            self.advance()
            return ast.PVExpr(parse_pv(str(tok.value), pos), pos)
        if tok.kind == NUM:
            if self.glues_address():
                return ast.Addr(self.phrase(), pos)
            self.advance()
            return ast.Const(int(tok.value), pos)
        if tok.kind == ID:
            return self.word_operand(tok, pos)
        if tok.kind == EOF:
            raise self.error("unexpected end of file in expression")
        raise self.unexpected("in expression")

    def glues_address(self) -> bool:
        nxt = self.peek()
        return nxt.kind == OP and nxt.value in (".", ":") and self.adjacent(self.tok, nxt)

    def word_operand(self, tok: Token, pos: Pos) -> ast.Expr:
        word = str(tok.value)
        nxt = self.peek()
        if word == "myself":
            self.advance()
            return ast.Myself(pos)
        if word in ("NULL", "null"):
            self.advance()
            return ast.Const(None, pos)
        if word == "msg" and nxt.kind == OP and nxt.value == ":" and self.peek(2).value == "len":
            self.advance()
            self.advance()
            self.advance()
            return ast.Keyword("msg:len", pos)
        if nxt.kind == OP and nxt.value == "(":
            if word == "route":
                return ast.CallExpr(self.route_call(), pos)
            if word in STATEMENT_KEYWORDS:
                raise self.error(f"'{word}' cannot be used in an expression")
            return ast.CallExpr(self.call(), pos)
        if word in CONDITION_KEYWORDS:
            self.advance()
            return ast.Keyword(word, pos)
        if word in STATEMENT_KEYWORDS:
            raise self.error(f"'{word}' cannot be used in an expression")
        if self.glues_address() or (
                nxt.kind == OP and nxt.value == "-" and self.adjacent(tok, nxt)
                and self.peek(2).kind in (ID, NUM) and self.adjacent(nxt, self.peek(2))):
            return ast.Addr(self.phrase(), pos)
        self.advance()
        return ast.Ident(word, pos)


def parse_config(text: str, file: str = "<cfg>") -> ast.Config:
    """Parse the text of an opensips.cfg; raises ScriptError on syntax errors."""
    return _Parser(text, file).parse()


def load_config(path: str) -> ast.Config:
    """Read and parse a config file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ScriptError(f"cannot read config file: {exc.strerror or exc}", path, 0, 0) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_config(text, path)
