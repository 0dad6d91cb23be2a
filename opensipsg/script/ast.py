"""Syntax tree of an OpenSIPS 1.6 routing script.

Nodes are frozen dataclasses; every node carries ``pos``. The tree records what
was written: whether a function exists or accepts its arguments is decided
later by the binder, using the registry.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


@dataclass(frozen=True, slots=True)
class Pos:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


# --- pseudo-variables -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Transform:
    """One ``{class.op,arg,...}`` transformation, e.g. name "s.substr", args (1, 2)."""

    name: str
    args: tuple[Union[str, int, "PVRef"], ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class PVRef:
    """A pseudo-variable reference.

    ``$(<context>name(param)[index]{transform}...)``: ``param`` is the text in
    parentheses (or a nested PVRef such as in ``$avp($var(x))``), ``index`` an
    int, ``"*"`` or a PVRef, ``context`` e.g. "request"/"reply".
    """

    name: str
    param: Union[str, "PVRef", None]
    index: Union[int, str, "PVRef", None]
    transforms: tuple[Transform, ...]
    context: Optional[str]
    pos: Pos
    text: str = field(default="", compare=False)  # source text, for messages


# --- expressions --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Const:
    """A number, a string, or NULL (value None)."""

    value: Union[int, str, None]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Myself:
    pos: Pos


@dataclass(frozen=True, slots=True)
class Ident:
    """A bare identifier operand such as udp, tcp, inet, max_len."""

    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Addr:
    """Unquoted address text in a condition: 10.0.0.1, 10.0.0.0/8, host.example.com."""

    text: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Keyword:
    """Legacy condition operand: method, uri, from_uri, to_uri, status, src_ip,
    dst_ip, src_port, dst_port, proto, af, msg:len."""

    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class PVExpr:
    pv: PVRef
    pos: Pos


@dataclass(frozen=True, slots=True)
class CallExpr:
    """A function call (or ``route(x)``) used as a value; value = return code."""

    call: Union["Call", "RouteCall"]
    pos: Pos


@dataclass(frozen=True, slots=True)
class BoolOp:
    """``&&`` / ``||``: one precedence level, left-associative."""

    op: str
    left: "Expr"
    right: "Expr"
    pos: Pos


@dataclass(frozen=True, slots=True)
class Not:
    expr: "Expr"
    pos: Pos


@dataclass(frozen=True, slots=True)
class Compare:
    """op is one of == != =~ !~ > < >= <=."""

    op: str
    left: "Expr"
    right: "Expr"
    pos: Pos


@dataclass(frozen=True, slots=True)
class Arith:
    """op is one of + - * / % (one level) or & | ^ << >> (one lower level)."""

    op: str
    left: "Expr"
    right: "Expr"
    pos: Pos


@dataclass(frozen=True, slots=True)
class BitNot:
    expr: "Expr"
    pos: Pos


@dataclass(frozen=True, slots=True)
class Test:
    """The ``[ expr ]`` test operator."""

    expr: "Expr"
    pos: Pos


Expr = Union[Const, Myself, Ident, Addr, Keyword, PVExpr, CallExpr, BoolOp, Not,
             Compare, Arith, BitNot, Test]


# --- statements ---------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Arg:
    """A function argument as written.

    kind: 'str' (value after escapes), 'int', 'ident' (bare word), 'pv'
    (value is a PVRef) or 'raw' (unquoted text such as ``udp:1.2.3.4:5060``).
    """

    kind: str
    value: Union[str, int, PVRef]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Arg, ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class RouteCall:
    name: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class Block:
    statements: tuple["Stmt", ...]
    pos: Pos


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: Block
    else_: Optional[Block]
    pos: Pos


@dataclass(frozen=True, slots=True)
class While:
    cond: Expr
    body: Block
    pos: Pos


@dataclass(frozen=True, slots=True)
class Case:
    """One ``case label:``; body keeps its ``Break`` statements (C fall-through)."""

    label: Union[int, str]
    body: Block
    pos: Pos


@dataclass(frozen=True, slots=True)
class Switch:
    pv: PVRef
    cases: tuple[Case, ...]
    default: Optional[Block]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Break:
    pos: Pos


@dataclass(frozen=True, slots=True)
class Return:
    """``return`` / ``return()`` have value None (meaning 1)."""

    value: Union[int, PVRef, None]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Exit:
    pos: Pos


@dataclass(frozen=True, slots=True)
class Drop:
    pos: Pos


@dataclass(frozen=True, slots=True)
class Assign:
    """op is one of = := += -= *= /= %= &= |= ^=."""

    target: PVRef
    op: str
    value: Expr
    pos: Pos


Stmt = Union[Block, If, While, Switch, Break, Return, Exit, Drop, RouteCall, Call, Assign]


# --- top level ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class GlobalParam:
    """``name = value``; value is an int (yes/no... give 1/0) or a str."""

    name: str
    value: Union[int, str]
    pos: Pos


@dataclass(frozen=True, slots=True)
class LoadModule:
    path: str
    pos: Pos


@dataclass(frozen=True, slots=True)
class ModParam:
    module_regex: str
    param: str
    value: Union[int, str]
    pos: Pos


@dataclass(frozen=True, slots=True)
class Route:
    """A route block; ``kind`` is route, branch_route, failure_route, ..."""

    kind: str
    name: str
    body: Block
    pos: Pos


@dataclass(frozen=True, slots=True)
class TimerRoute:
    name: str
    interval: int
    body: Block
    pos: Pos


@dataclass(frozen=True, slots=True)
class Config:
    file: str
    globals: tuple[GlobalParam, ...]
    loadmodules: tuple[LoadModule, ...]
    modparams: tuple[ModParam, ...]
    routes: dict[str, Route]  # main route under "0"
    branch_routes: dict[str, Route]
    failure_routes: dict[str, Route]
    onreply_routes: dict[str, Route]  # default reply route under "0"
    error_route: Optional[Route]
    local_route: Optional[Route]
    startup_route: Optional[Route]
    timer_routes: dict[str, TimerRoute]

    def global_values(self, name: str) -> list[Union[int, str]]:
        """All values given to global parameter ``name``, in file order."""
        return [g.value for g in self.globals if g.name == name]
