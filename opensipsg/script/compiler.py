"""Bind a parsed script to the registry and compile it into Python closures.

:func:`compile_script` walks the AST exactly once: every function call is
resolved (core functions first, then the loaded modules), its arguments are
fixed up per kind, and every statement becomes a closure ``fn(ctx) -> int``;
a block is one generated function that runs its calls and ``if (f(..))`` inline
and calls the other statements' closures (_BlockWriter). Running a route is then
only calling functions -- nothing looks at the AST again.

Control flow (reference 1.3/1.4): an action returning 0 ends the whole top-level
run (exit, drop, ``return(0)`` and any function returning 0), so every compiled
statement returns its code and every enclosing block, if, loop and route call
hands a 0 straight back up (no exception unwinding every level on each exit).
Where a 0 cannot travel as a return code -- a call inside an expression, an
error_route -- the private exception ``_Stop`` does the same. ``_Return`` (ends
the current route) and ``_Break`` (ends a switch case) stay exceptions.
Each raise makes a new instance: re-raising one shared instance chains every
run's traceback onto it, which kept all the frames (and messages) alive.
"""
from __future__ import annotations

import ipaddress
import logging
import operator
from typing import Any, Callable, Iterable, NoReturn

from ..errors import OpensipsgError, ParseError, ScriptError
from ..registry import (REGISTRY, ROUTE_TYPE_NAMES, FunctionSpec, Module, RouteType)
from ..sip.uri import parse_uri
from . import ast
from . import core_functions  # noqa: F401 - registers the core functions
from . import pvars  # noqa: F401 - registers the core pseudo-variables
from .context import NO_ERROR, ErrorInfo
from .parser import parse_format, parse_pv
from .pvars import PV, build_pv, parse_avp_aliases
from .regex import compile_ere

log = logging.getLogger("opensipsg.script")

Value = int | str | None
Action = Callable[[Any], int]
Cond = Callable[[Any], bool]
ValueFn = Callable[[Any], Value]

MAX_RECURSION = 100
DEFAULT_MAX_WHILE_LOOPS = 100
MAX_LEN = 65535

__all__ = ["compile_script", "Script", "Format", "Binder"]


class RouteEnd(Exception):
    """Base of the exceptions that unwind a running route; a caller of
    :attr:`Script.request_route` catches it (Script.run catches each kind)."""


class _Stop(RouteEnd):
    """A 0 where it cannot be returned (inside an expression): end the whole run."""


class _Return(RouteEnd):
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


class _Break(RouteEnd):
    """break inside a switch case."""




# --- formats ----------------------------------------------------------------------

class Format:
    """A string with pseudo-variables: ``render(ctx) -> str``; ``static`` is the text when
    it has no PVs (else None). NULL values render as ``<null>`` like OpenSIPS."""

    __slots__ = ("parts", "static", "text", "render")

    def __init__(self, parts: list[str | PV], text: str) -> None:
        self.parts = tuple(parts)
        self.text = text
        if all(isinstance(p, str) for p in parts):
            self.static: str | None = "".join(parts)  # type: ignore[arg-type]
            value = self.static
            self.render = lambda ctx: value
        else:
            self.static = None
            getters = [(p if isinstance(p, str) else p.get) for p in parts]
            if len(getters) == 1:
                single = getters[0]

                def render(ctx: Any) -> str:
                    v = single(ctx)  # type: ignore[operator]
                    return "<null>" if v is None else str(v)
            else:
                def render(ctx: Any) -> str:
                    out = []
                    for g in getters:
                        if g.__class__ is str:
                            out.append(g)
                        else:
                            v = g(ctx)
                            out.append("<null>" if v is None else str(v))
                    return "".join(out)
            self.render = render

    def __repr__(self) -> str:
        return f"<Format {self.text!r}>"


# --- value helpers ---------------------------------------------------------------------

def _truthy(v: Value) -> bool:
    if v is None:
        return False
    if v.__class__ is int or isinstance(v, int):
        return v != 0
    return v != ""


def _to_int(v: Value) -> int | None:
    if isinstance(v, int):
        return v
    if v is None:
        return None
    try:
        return int(v.strip(), 0)
    except ValueError:
        return None


_ARITH = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    "/": lambda a, b: int(a / b), "%": lambda a, b: a - b * int(a / b),
    "&": operator.and_, "|": operator.or_, "^": operator.xor,
    "<<": operator.lshift, ">>": operator.rshift,
}


def _arith(op: str, a: Value, b: Value) -> Value:
    if a.__class__ is int and b.__class__ is int:
        try:
            return _ARITH[op](a, b)
        except ZeroDivisionError:
            log.error("division by zero in script expression")
            return None
    if op == "+" and (isinstance(a, str) or isinstance(b, str)):
        return ("" if a is None else str(a)) + ("" if b is None else str(b))
    ia, ib = _to_int(a), _to_int(b)
    if ia is None or ib is None:
        log.error("invalid operands for '%s': %r, %r", op, a, b)
        return None
    return _arith(op, ia, ib)


_STR_CMP = {
    ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}


def compare_values(op: str, a: Value, b: Value, a_dual: bool = False, b_dual: bool = False,
                   where: str = "") -> bool:
    """OpenSIPS 1.6 comparison of two values (reference 1.6)."""
    if a is None or b is None:
        if op in ("==", "=~"):
            return a is None and b is None
        if op in ("!=", "!~"):
            return not (a is None and b is None)
        return False
    if op in ("=~", "!~"):
        try:
            found = compile_ere(str(b)).search(str(a)) is not None
        except Exception:  # noqa: BLE001 - re.error: a bad runtime regex
            log.error("bad regular expression %r%s", b, where)
            return False
        return found if op == "=~" else not found
    ta, tb = a.__class__, b.__class__
    if ta is not tb:
        if isinstance(a, int) and isinstance(b, int):
            pass
        elif a_dual and isinstance(a, int):
            a = str(a)
        elif b_dual and isinstance(b, int):
            b = str(b)
        else:
            log.critical("invalid comparison of %s %r with %s %r%s: types differ (int vs string)",
                         type(a).__name__, a, type(b).__name__, b, where)
            return False
    if isinstance(a, str):
        return _STR_CMP[op](a.lower(), b.lower())  # type: ignore[union-attr]
    return _STR_CMP[op](a, b)


# --- the binder --------------------------------------------------------------------------

_KIND_TABLE = {
    "route": "routes", "request": "routes", "branch": "branch_routes",
    "branch_route": "branch_routes", "failure": "failure_routes",
    "failure_route": "failure_routes", "onreply": "onreply_routes",
    "onreply_route": "onreply_routes",
}
# which route table a 'route'-kind argument refers to
_ROUTE_ARG_TABLE = {"t_on_failure": "failure", "t_on_reply": "onreply", "t_on_branch": "branch"}

_TOP_TYPES = {
    "branch_routes": RouteType.BRANCH, "failure_routes": RouteType.FAILURE,
    "onreply_routes": RouteType.ONREPLY,
}


def _walk_statements(block: ast.Block | None) -> Iterable[Any]:
    """Every statement and every call/route-call inside expressions, recursively."""
    if block is None:
        return
    for stmt in block.statements:
        yield stmt
        if isinstance(stmt, ast.Block):
            yield from _walk_statements(stmt)
        elif isinstance(stmt, ast.If):
            yield from _walk_expr(stmt.cond)
            yield from _walk_statements(stmt.then)
            yield from _walk_statements(stmt.else_)
        elif isinstance(stmt, ast.While):
            yield from _walk_expr(stmt.cond)
            yield from _walk_statements(stmt.body)
        elif isinstance(stmt, ast.Switch):
            for case in stmt.cases:
                yield from _walk_statements(case.body)
            yield from _walk_statements(stmt.default)
        elif isinstance(stmt, ast.Assign):
            yield from _walk_expr(stmt.value)


def _walk_expr(expr: Any) -> Iterable[Any]:
    if isinstance(expr, ast.CallExpr):
        yield expr.call
    elif isinstance(expr, (ast.BoolOp, ast.Compare, ast.Arith)):
        yield from _walk_expr(expr.left)
        yield from _walk_expr(expr.right)
    elif isinstance(expr, (ast.Not, ast.BitNot, ast.Test)):
        yield from _walk_expr(expr.expr)


class Binder:
    """Resolves names and arguments at load time (handed to FunctionSpec.fixup)."""

    def __init__(self, config: ast.Config, core: Any, modules: dict[str, Module]) -> None:
        self.config = config
        self.core = core
        self.modules = modules
        self.file = config.file
        self.avp_aliases: dict[str, tuple[str, Any]] = {}
        for text in config.global_values("avp_aliases"):
            try:
                self.avp_aliases.update(parse_avp_aliases(str(text)))
            except ValueError as exc:
                pos = next(g.pos for g in config.globals if g.name == "avp_aliases")
                raise ScriptError(f"avp_aliases: {exc}", pos.file, pos.line, pos.col) from None
        self.warned: set[str] = set()
        self.current_function: str = ""

    # -- API for fixups ---------------------------------------------------------------
    def error(self, node: Any, message: str) -> NoReturn:
        """Raise a ScriptError at ``node``'s position (``raise binder.error(...)`` also works)."""
        pos = node.pos
        raise ScriptError(message, pos.file, pos.line, pos.col)

    def warn(self, node: Any, message: str) -> None:
        if message not in self.warned:
            self.warned.add(message)
            log.warning("%s: %s", node.pos, message)

    def route_exists(self, kind: str, name: str) -> bool:
        table = getattr(self.config, _KIND_TABLE.get(kind, kind), None)
        return isinstance(table, dict) and str(name) in table

    def arg_text(self, arg: ast.Arg) -> str:
        if arg.kind == "pv":
            return arg.value.text  # type: ignore[union-attr]
        return str(arg.value)

    def format(self, arg: ast.Arg) -> Format:
        if arg.kind == "pv":
            pv = self.pv_ref(arg.value)  # type: ignore[arg-type]
            return Format([pv], pv.text)
        text = str(arg.value)
        if arg.kind != "str":
            return Format([text], text)
        parts: list[str | PV] = []
        for part in parse_format(text, arg.pos):
            parts.append(part if isinstance(part, str) else self.pv_ref(part))
        return Format(parts, text)

    def regex(self, arg: ast.Arg, lines: bool = False) -> Any:
        """``lines``: textops' dialect (REG_NEWLINE, glibc escapes) instead of the script's."""
        text = self.arg_text(arg)
        try:
            return compile_ere(text, newline=lines, gnu_escapes=lines)
        except Exception as exc:  # noqa: BLE001 - re.error
            raise self.error(arg, f"bad regular expression '{text}': {exc}") from None

    def pv(self, arg: ast.Arg) -> PV:
        if arg.kind == "pv":
            return self.pv_ref(arg.value)  # type: ignore[arg-type]
        text = str(arg.value).strip()
        if arg.kind != "str" or not text.startswith("$"):
            raise self.error(arg, f"a pseudo-variable is expected, found '{text}'")
        return self.pv_ref(parse_pv(text, arg.pos))

    def pv_ref(self, ref: ast.PVRef) -> PV:
        return build_pv(ref, self)

    def integer(self, arg: ast.Arg, is_core: bool) -> int:
        if arg.kind == "int":
            return int(arg.value)  # type: ignore[arg-type]
        if arg.kind in ("str", "ident", "raw"):
            try:
                return int(str(arg.value).strip(), 0)
            except ValueError:
                pass
        raise self.error(arg, f"'{self.arg_text(arg)}' is not a number")


# --- compiler -----------------------------------------------------------------------------

class _Compiler:
    def __init__(self, config: ast.Config, core: Any, modules: dict[str, Module]) -> None:
        self.config = config
        self.core = core
        self.modules = modules
        self.binder = Binder(config, core, modules)
        self.max_while = DEFAULT_MAX_WHILE_LOOPS
        for value in config.global_values("max_while_loops"):
            if isinstance(value, int) and value > 0:
                self.max_while = value
        self.route_cells: dict[str, list[Action | None]] = {}
        self.error_route: list[Action | None] = [None]
        self.route_types: dict[str, RouteType] = {}
        self.current_types = RouteType(0)
        self.current_label = ""
        self.is_myself = getattr(core, "is_myself", None)

    # -- route types of sub-routes ---------------------------------------------------------
    def compute_route_types(self) -> None:
        cfg = self.config
        calls: dict[str, list[ast.RouteCall]] = {}
        for name, route in cfg.routes.items():
            calls[name] = [s for s in _walk_statements(route.body) if isinstance(s, ast.RouteCall)]
        types: dict[str, RouteType] = {name: RouteType(0) for name in cfg.routes}
        if "0" in cfg.routes:
            types["0"] = RouteType.REQUEST
        roots: list[tuple[RouteType, ast.Block]] = []
        for table, rtype in _TOP_TYPES.items():
            for route in getattr(cfg, table).values():
                roots.append((rtype, route.body))
        for single, rtype in (("error_route", RouteType.ERROR), ("local_route", RouteType.LOCAL),
                              ("startup_route", RouteType.STARTUP)):
            route = getattr(cfg, single)
            if route is not None:
                roots.append((rtype, route.body))
        for timer in cfg.timer_routes.values():
            roots.append((RouteType.TIMER, timer.body))
        for rtype, body in roots:
            for stmt in _walk_statements(body):
                if isinstance(stmt, ast.RouteCall) and stmt.name in types:
                    types[stmt.name] |= rtype
        # module functions that run request sub-routes (drouting, pike...) get REQUEST
        for route in list(cfg.routes.values()) + [r for t in _TOP_TYPES for r in getattr(cfg, t).values()]:
            for stmt in _walk_statements(route.body):
                if isinstance(stmt, ast.Call) and stmt.name not in _ROUTE_ARG_TABLE:
                    spec = self.lookup(stmt.name)
                    if spec is not None and "route" in spec.kinds:
                        for arg in stmt.args:
                            if str(arg.value) in types:
                                types[str(arg.value)] |= RouteType.REQUEST
        changed = True
        while changed:
            changed = False
            for name, rcalls in calls.items():
                for rc in rcalls:
                    if rc.name in types and types[name] & ~types[rc.name]:
                        types[rc.name] |= types[name]
                        changed = True
        self.route_types = types

    def lookup(self, name: str) -> FunctionSpec | None:
        spec = REGISTRY.core_functions.get(name)
        if spec is not None:
            return spec
        for module in self.modules.values():
            spec = module.functions.get(name)
            if spec is not None:
                return spec
        return None

    def module_of(self, name: str) -> Module | None:
        for module in self.modules.values():
            if name in module.functions:
                return module
        return None

    # -- routes ------------------------------------------------------------------------------
    def route_cell(self, name: str) -> list[Action | None]:
        cell = self.route_cells.get(name)
        if cell is None:
            cell = self.route_cells[name] = [None]
        return cell

    def compile_route(self, body: ast.Block, types: RouteType, label: str) -> Action:
        self.current_types = types
        self.current_label = label
        return self.block(body)

    # -- statements ----------------------------------------------------------------------------
    def block(self, block: ast.Block) -> Action:
        """A 0 from any statement ends the block with 0 (the run stops: see the module doc).

        The block is one generated function (see _BlockWriter): its calls and the ifs
        on calls, with their branches, run inline, without a closure frame per
        statement; other statements are their closures, called from it."""
        writer = _BlockWriter(self)
        writer.block(block.statements, 1)
        return writer.function()

    def statement(self, stmt: Any) -> Action:
        method = getattr(self, "s_" + type(stmt).__name__)
        return method(stmt)

    def s_Block(self, stmt: ast.Block) -> Action:
        return self.block(stmt)

    def s_Call(self, stmt: ast.Call) -> Action:
        return self.call(stmt, statement=True)

    def s_RouteCall(self, stmt: ast.RouteCall) -> Action:
        return self.route_call(stmt, statement=True)

    def s_Exit(self, stmt: ast.Exit) -> Action:
        def exit_(ctx: Any) -> int:
            return 0
        return exit_

    def s_Drop(self, stmt: ast.Drop) -> Action:
        def drop(ctx: Any) -> int:
            ctx.dropped = True
            return 0
        return drop

    def s_Break(self, stmt: ast.Break) -> Action:
        def break_(ctx: Any) -> int:
            raise _Break
        return break_

    def s_Return(self, stmt: ast.Return) -> Action:
        value = stmt.value
        if value is None:
            value = 1
        if isinstance(value, int):
            if value == 0:
                return self.s_Exit(ast.Exit(stmt.pos))
            exc_value = value

            def return_const(ctx: Any) -> int:
                ctx.retcode = exc_value
                raise _Return(exc_value)
            return return_const
        pv = self.binder.pv_ref(value)

        def return_pv(ctx: Any) -> int:
            v = pv.get(ctx)
            if v is None:
                r = -1
            elif isinstance(v, int):
                r = v
            else:
                r = 1
            if r == 0:
                return 0
            ctx.retcode = r
            raise _Return(r)
        return return_pv

    def s_If(self, stmt: ast.If) -> Action:
        # (Blocks write ifs inline, see _BlockWriter; this closure serves deeper nesting.)
        # For f(..) and !f(..) the call's code picks the branch: a 0 from the call stops
        # the run, and a 0 from the branch taken leaves $retcode as it is.
        call, truth = self.call_condition(stmt.cond)
        if call is not None:
            handler, values = self.bind_call(call)
            then = self.block(stmt.then)
            else_ = self.block(stmt.else_) if stmt.else_ is not None else None
            test = self.make_call(handler, values, call, True)

            def if_call(ctx: Any) -> int:
                r = test(ctx)
                if r == 0:
                    return 0
                if (r > 0) is truth:
                    r = then(ctx)
                elif else_ is None:
                    return 1
                else:
                    r = else_(ctx)
                if r:
                    ctx.retcode = r
                return r
            return if_call
        then = self.block(stmt.then)
        else_ = self.block(stmt.else_) if stmt.else_ is not None else None
        expr, negated = stmt.cond, False
        if isinstance(expr, ast.Not):  # tested here: one closure less than cond()'s not
            expr, negated = expr.expr, True
        cond = self.cond(expr)  # (a 0 from a call inside it is raised: see the module doc)
        if else_ is None:
            def if_cond(ctx: Any) -> int:
                if (not cond(ctx)) is not negated:
                    return 1
                r = then(ctx)
                if r:
                    ctx.retcode = r
                return r
            return if_cond

        def if_cond_else(ctx: Any) -> int:
            r = then(ctx) if (not cond(ctx)) is negated else else_(ctx)
            if r:
                ctx.retcode = r
            return r
        return if_cond_else

    def call_condition(self, expr: Any) -> tuple[ast.Call | None, bool]:
        """(the call, wanted truth) when ``expr`` is ``f(...)`` or ``!f(...)``, else (None, _)."""
        truth = True
        if isinstance(expr, ast.Not):
            expr, truth = expr.expr, False
        if isinstance(expr, ast.CallExpr) and isinstance(expr.call, ast.Call):
            return expr.call, truth
        return None, truth

    def s_While(self, stmt: ast.While) -> Action:
        cond = self.cond(stmt.cond)
        body = self.block(stmt.body)
        limit = self.max_while
        pos = stmt.pos

        def while_(ctx: Any) -> int:
            ret = 1
            n = 0
            while cond(ctx):
                n += 1
                if n > limit:
                    log.info("%s: while loop stopped after %d iterations (max_while_loops)", pos, limit)
                    break
                ret = body(ctx)
                if ret == 0:
                    return 0
            return ret
        return while_

    def s_Switch(self, stmt: ast.Switch) -> Action:
        pv = self.binder.pv_ref(stmt.pv)
        bodies = [self.block(case.body) for case in stmt.cases]
        labels = [case.label for case in stmt.cases]
        default = self.block(stmt.default) if stmt.default is not None else None
        n = len(bodies)
        str_index: dict[str, int] = {}
        int_index: dict[int, int] = {}
        for i, label in enumerate(labels):
            if isinstance(label, int):
                int_index.setdefault(label, i)
            else:
                str_index.setdefault(label.lower(), i)
        dual = pv.dual

        def switch(ctx: Any) -> int:
            v = pv.get(ctx)
            start = None
            if isinstance(v, int):
                start = int_index.get(v)  # type: ignore[arg-type]
                if start is None and dual:
                    start = str_index.get(str(v))
            elif v.__class__ is str:
                start = str_index.get(v.lower())  # type: ignore[union-attr]
            ret = 1
            try:
                if start is None:
                    if default is not None:
                        ret = default(ctx)
                else:
                    for i in range(start, n):
                        ret = bodies[i](ctx)
                        if ret == 0:
                            return 0
                    if default is not None:
                        ret = default(ctx)
            except _Break:
                pass
            if ret:
                ctx.retcode = ret
            return ret
        return switch

    def s_Assign(self, stmt: ast.Assign) -> Action:
        pv = self.binder.pv_ref(stmt.target)
        if not pv.writable:
            raise self.binder.error(stmt, f"cannot assign to read-only pseudo-variable '{stmt.target.text}'")
        value = self.value(stmt.value)
        op = stmt.op
        if op == "=":
            setter = pv.set
        elif op == ":=":
            setter = pv.replace
        else:
            aop = op[:-1]
            get = pv.get
            update = pv.update

            def compound(ctx: Any) -> int:
                update(ctx, _arith(aop, get(ctx), value(ctx)))
                ctx.retcode = 1
                return 1
            return compound
        if stmt.target.name == "var":
            # $var(x) = NULL stores 0: handled by the setter
            pass

        def assign(ctx: Any) -> int:
            setter(ctx, value(ctx))
            ctx.retcode = 1
            return 1
        return assign

    # -- calls -------------------------------------------------------------------------------
    def route_call(self, stmt: ast.RouteCall, statement: bool = False) -> Action:
        """``statement``: a 0 (the run stops) is returned; else (inside an expression) raised."""
        name = stmt.name
        if name not in self.config.routes:
            raise self.binder.error(stmt, f"route '{name}' is not defined (route({name}))")
        cell = self.route_cell(name)
        pos = stmt.pos

        def call_route(ctx: Any) -> int:
            if ctx.depth >= MAX_RECURSION:
                log.error("%s: too many recursive route() calls (max %d)", pos, MAX_RECURSION)
                return -1
            ctx.depth += 1
            try:
                r = cell[0](ctx)  # type: ignore[misc]
            except _Return as ret:
                r = ret.value
            finally:
                ctx.depth -= 1
            if r == 0:
                if statement:
                    return 0
                raise _Stop
            ctx.retcode = r
            return r
        return call_route

    def call(self, stmt: ast.Call, statement: bool = False) -> Action:
        """``statement``: a 0 (the run stops) is returned; else (inside an expression) raised."""
        handler, values = self.bind_call(stmt)
        return self.make_call(handler, values, stmt, statement)

    def bind_call(self, stmt: ast.Call) -> tuple[Callable[..., int], tuple[Any, ...]]:
        """The handler of ``stmt`` (bound to its module) and its fixed-up arguments."""
        binder = self.binder
        name = stmt.name
        for module in self.modules.values():
            message = module.obsolete.get(name)
            if message is not None:
                raise binder.error(stmt, message)
        spec = REGISTRY.core_functions.get(name)
        is_core = spec is not None
        module = None
        if spec is None:
            module = self.module_of(name)
            if module is not None:
                spec = module.functions[name]
        if spec is None:
            raise binder.error(stmt, f"unknown function '{name}'")
        nargs = len(stmt.args)
        if not spec.min_args <= nargs <= spec.max_args:
            if spec.min_args == spec.max_args:
                accepted = str(spec.max_args)
            else:
                accepted = " or ".join(str(n) for n in range(spec.min_args, spec.max_args + 1))
            raise binder.error(stmt, f"function '{name}' takes {accepted} argument(s), "
                                     f"{nargs} given")
        types = self.current_types
        if types and types & ~spec.routes:
            bad = [ROUTE_TYPE_NAMES[t] for t in ROUTE_TYPE_NAMES if t & types and not t & spec.routes]
            where = self.current_label
            raise binder.error(stmt, f"function '{name}' cannot be used in {', '.join(bad)}"
                                     + (f" ({where} is called from there)" if where.startswith("route[") else ""))
        if not is_core:
            for arg in stmt.args:
                if arg.kind == "int":
                    raise binder.error(arg, "numbers used as parameters - they should be quoted")
                if arg.kind in ("ident", "raw"):
                    raise binder.error(arg, f"parameters of module function '{name}' must be quoted "
                                            f"strings, found '{arg.value}'")
        binder.current_function = name
        if spec.fixup is not None:
            try:
                values = tuple(spec.fixup(stmt.args, binder))
            except ScriptError:
                raise
            except (ValueError, OpensipsgError) as exc:
                raise binder.error(stmt, f"{name}: {exc}") from None
        else:
            values = tuple(self.fix_arg(spec, kind, arg, is_core)
                           for kind, arg in zip(spec.kinds, stmt.args))
        handler = spec.handler
        if module is not None:
            handler = handler.__get__(module, type(module))
            module.on_bind(name, values)
        return handler, values

    def fix_arg(self, spec: FunctionSpec, kind: str, arg: ast.Arg, is_core: bool) -> Any:
        binder = self.binder
        if kind == "str":
            return binder.arg_text(arg)
        if kind == "fmt":
            return binder.format(arg)
        if kind == "int":
            return binder.integer(arg, is_core)
        if kind == "intfmt":
            if arg.kind == "int":
                return int(arg.value)  # type: ignore[arg-type]
            fmt = binder.format(arg)
            if fmt.static is not None:
                try:
                    return int(fmt.static.strip(), 0)
                except ValueError:
                    raise binder.error(arg, f"'{fmt.static}' is not a number") from None
            return fmt
        if kind == "regex":
            return binder.regex(arg)
        if kind == "lineregex":
            return binder.regex(arg, lines=True)
        if kind == "pv":
            return binder.pv(arg)
        if kind == "route":
            name = binder.arg_text(arg)
            table = _ROUTE_ARG_TABLE.get(spec.name, "route")
            if not binder.route_exists(table, name):
                label = "route" if table == "route" else f"{table}_route"
                raise binder.error(arg, f"{label}[{name}] is not defined (used by {spec.name})")
            return name
        return arg

    def make_call(self, handler: Callable[..., int], values: tuple[Any, ...], stmt: ast.Call,
                  statement: bool) -> Action:
        on_error = self.parse_error_handler(stmt)
        n = len(values)
        # Unrolled on purpose, for the hot path: a closure per arity calls the
        # handler with its values bound as cells; ``handler(ctx, *values)`` costs
        # about 1,000 machine instructions more per call on CPython 3.11 (more than
        # a frame), and sharing the tail in a helper costs another call. Keep the
        # bodies the same.
        if n == 0:
            def call0(ctx: Any) -> int:
                try:
                    r = handler(ctx)
                except ParseError as exc:
                    r = on_error(ctx, exc)
                if r.__class__ is not int:
                    r = _coerce(r)
                ctx.retcode = r
                if r == 0 and not statement:
                    raise _Stop
                return r
            return call0
        if n == 1:
            (v1,) = values

            def call1(ctx: Any) -> int:
                try:
                    r = handler(ctx, v1)
                except ParseError as exc:
                    r = on_error(ctx, exc)
                if r.__class__ is not int:
                    r = _coerce(r)
                ctx.retcode = r
                if r == 0 and not statement:
                    raise _Stop
                return r
            return call1
        if n == 2:
            v1, v2 = values

            def call2(ctx: Any) -> int:
                try:
                    r = handler(ctx, v1, v2)
                except ParseError as exc:
                    r = on_error(ctx, exc)
                if r.__class__ is not int:
                    r = _coerce(r)
                ctx.retcode = r
                if r == 0 and not statement:
                    raise _Stop
                return r
            return call2

        def calln(ctx: Any) -> int:
            try:
                r = handler(ctx, *values)
            except ParseError as exc:
                r = on_error(ctx, exc)
            if r.__class__ is not int:
                r = _coerce(r)
            ctx.retcode = r
            if r == 0 and not statement:
                raise _Stop
            return r
        return calln

    def parse_error_handler(self, stmt: ast.Call) -> Callable[[Any, ParseError], int]:
        error_cell = self.error_route
        pos = stmt.pos
        name = stmt.name

        def on_parse_error(ctx: Any, exc: ParseError) -> int:
            error_fn = error_cell[0]
            if error_fn is not None and ctx.route_type & (RouteType.REQUEST | RouteType.BRANCH
                                                          | RouteType.FAILURE):
                ctx.error = ErrorInfo(err_class=1, level=1, info=f"parse error in {name}: {exc.reason}",
                                      rcode=exc.status, rreason=exc.reason)
                saved_type = ctx.route_type
                ctx.route_type = RouteType.ERROR
                try:
                    if error_fn(ctx) == 0:
                        raise _Stop  # exit in error_route ends the run
                except _Return:
                    pass
                finally:
                    ctx.route_type = saved_type
                ctx.error = NO_ERROR
                return -1
            log.error("%s: %s() failed: %s", pos, name, exc.reason)
            return -1
        return on_parse_error

    # -- conditions -------------------------------------------------------------------------
    def cond(self, expr: Any) -> Cond:
        """A closure returning a real bool (s_If compares it with 0)."""
        kind = type(expr).__name__
        if kind == "BoolOp":
            left, right = self.cond(expr.left), self.cond(expr.right)
            if expr.op == "&&":
                return lambda ctx: left(ctx) and right(ctx)
            return lambda ctx: left(ctx) or right(ctx)
        if kind == "Not":
            inner = self.cond(expr.expr)
            return lambda ctx: not inner(ctx)
        if kind == "Compare":
            return self.compare(expr)
        if kind == "CallExpr":
            call = self.call(expr.call) if isinstance(expr.call, ast.Call) else self.route_call(expr.call)
            return lambda ctx: call(ctx) > 0
        if kind == "Const":
            value = _truthy(expr.value)
            return lambda ctx: value
        if kind in ("PVExpr", "Test", "Arith", "BitNot"):
            fn = self.value(expr)
            return lambda ctx: _truthy(fn(ctx))
        raise self.binder.error(expr, "this cannot be used alone as a condition")

    def value(self, expr: Any) -> ValueFn:
        kind = type(expr).__name__
        if kind == "Const":
            v = expr.value
            return lambda ctx: v
        if kind == "Ident":
            name = expr.name
            return lambda ctx: name
        if kind == "Addr":
            text = expr.text
            return lambda ctx: text
        if kind == "PVExpr":
            return self.binder.pv_ref(expr.pv).get
        if kind == "CallExpr":
            return self.call(expr.call) if isinstance(expr.call, ast.Call) else self.route_call(expr.call)
        if kind == "Arith":
            left, right = self.value(expr.left), self.value(expr.right)
            op = expr.op
            return lambda ctx: _arith(op, left(ctx), right(ctx))
        if kind == "BitNot":
            inner = self.value(expr.expr)

            def bitnot(ctx: Any) -> Value:
                v = _to_int(inner(ctx))
                return None if v is None else ~v
            return bitnot
        if kind == "Test":
            inner = self.value(expr.expr)
            return lambda ctx: 1 if _truthy(inner(ctx)) else 0
        if kind in ("BoolOp", "Not", "Compare"):
            cond = self.cond(expr)
            return lambda ctx: 1 if cond(ctx) else 0
        raise self.binder.error(expr, "this cannot be used as a value")

    # -- comparisons ------------------------------------------------------------------------------
    def compare(self, expr: ast.Compare) -> Cond:
        left, right, op = expr.left, expr.right, expr.op
        if isinstance(left, ast.Myself) and not isinstance(right, ast.Myself):
            left, right = right, left
        if isinstance(left, ast.Keyword):
            return self.keyword_compare(left, op, right, expr)
        if isinstance(right, ast.Myself):
            if op not in ("==", "!="):
                raise self.binder.error(expr, f"'{op}' cannot be used with myself (only == and !=)")
            return self.myself_check(self.value(left), op == "==")
        lget = self.value(left)
        if op in ("==", "!=") and isinstance(right, ast.Const) and right.value is None:
            # x == NULL / x != NULL (compare_values' rule for a NULL operand)
            if op == "==":
                test = lambda ctx: lget(ctx) is None  # noqa: E731
            else:
                test = lambda ctx: lget(ctx) is not None  # noqa: E731
            # the same test as source for a generated block's if (no lambda frame, see _BlockWriter)
            test.inline = (f"{{0}}(ctx) is {'' if op == '==' else 'not '}None", (lget,))  # type: ignore[attr-defined]
            return test
        ldual = isinstance(left, ast.PVExpr) and self.binder.pv_ref(left.pv).dual and not left.pv.transforms
        where = f" at {expr.pos}"
        if op in ("=~", "!~") and isinstance(right, ast.Const) and isinstance(right.value, str):
            try:
                rx = compile_ere(right.value)
            except Exception as exc:  # noqa: BLE001
                raise self.binder.error(right, f"bad regular expression '{right.value}': {exc}") from None
            search = rx.search
            if op == "=~":
                def match(ctx: Any) -> bool:
                    v = lget(ctx)
                    return v is not None and search(v if v.__class__ is str else str(v)) is not None
                return match

            def no_match(ctx: Any) -> bool:
                v = lget(ctx)
                return v is None or search(v if v.__class__ is str else str(v)) is None
            return no_match
        if op in ("==", "!=") and isinstance(right, (ast.Const, ast.Ident)) \
                and isinstance(getattr(right, "value", getattr(right, "name", None)), str):
            const = (right.value if isinstance(right, ast.Const) else right.name).lower()
            eq = op == "=="

            def str_eq(ctx: Any) -> bool:
                v = lget(ctx)
                if v.__class__ is str:
                    return (v.lower() == const) is eq  # type: ignore[union-attr]
                if v is None:
                    return not eq
                if ldual:
                    return (str(v) == const) is eq
                return compare_values(op, v, const, where=where)
            return str_eq
        rget = self.value(right)
        rdual = isinstance(right, ast.PVExpr) and self.binder.pv_ref(right.pv).dual and not right.pv.transforms
        return lambda ctx: compare_values(op, lget(ctx), rget(ctx), ldual, rdual, where)

    def myself_check(self, get: ValueFn, eq: bool) -> Cond:
        """``get(ctx) == myself`` (``eq``) or ``!= myself`` in one closure."""
        is_ruri = get is _kw_uri
        # the last (core, value, answer): a Core's names are fixed once it is made, and
        # requests to one domain (every REGISTER's R-URI) repeat the value
        last: tuple[Any, Any, bool] = (None, None, False)

        def check(ctx: Any) -> bool:
            nonlocal last
            if is_ruri:  # 'uri == myself': ctx.ruri read here, no _kw_uri or property frame
                request = ctx.request
                if request is None:
                    return not eq
                value: Value = ctx.new_uri
                if value is None:
                    value = request.ruri
            else:
                value = get(ctx)
                if value is None:
                    return not eq
            core = ctx.core
            if last[1] == value and last[0] is core and value.__class__ is str:
                return last[2] is eq
            text = (value if value.__class__ is str else str(value)).strip()
            host, port = text, 0
            scheme, colon, _ = text.partition(":")
            if colon and scheme.lower() in ("sip", "sips", "tel"):
                try:
                    uri = parse_uri(text)
                except OpensipsgError:
                    return not eq
                host, port = uri.host, uri.port or (5061 if uri.scheme == "sips" else 5060)
            found = bool(core.is_myself(host, port))
            if value.__class__ is str:
                last = (core, value, found)
            return found is eq
        return check

    def keyword_compare(self, kw: ast.Keyword, op: str, right: Any, expr: ast.Compare) -> Cond:
        name = kw.name
        binder = self.binder
        if name in ("method", "uri", "from_uri", "to_uri", "status"):
            get = _KEYWORD_GETTERS[name]
            if isinstance(right, ast.Myself):
                if name == "method" or op not in ("==", "!="):
                    raise binder.error(expr, f"'{name} {op} myself' is not allowed")
                return self.myself_check(get, op == "==")
            if op in ("=~", "!~"):
                if isinstance(right, (ast.Const, ast.Ident)):
                    text = right.value if isinstance(right, ast.Const) else right.name
                    try:
                        rx = compile_ere(str(text)).search
                    except Exception as exc:  # noqa: BLE001
                        raise binder.error(right, f"bad regular expression '{text}': {exc}") from None
                    want = op == "=~"

                    def kw_match(ctx: Any) -> bool:
                        v = get(ctx)
                        return v is not None and (rx(v) is not None) is want
                    return kw_match
            rget = self.value(right)
            where = f" at {expr.pos}"

            def kw_cmp(ctx: Any) -> bool:
                r = rget(ctx)
                return compare_values(op, get(ctx), None if r is None else str(r), where=where)
            return kw_cmp
        if name in ("src_ip", "dst_ip"):
            attr = "src_ip" if name == "src_ip" else "local_ip"
            if op not in ("==", "!="):
                raise binder.error(expr, f"'{op}' cannot be used with {name} (only == and !=)")
            eq = op == "=="
            if isinstance(right, ast.Myself):
                return lambda ctx: bool(ctx.core.is_myself(getattr(ctx, attr), 0)) is eq
            if isinstance(right, ast.PVExpr):
                rget = self.value(right)
                return lambda ctx: _ip_in(getattr(ctx, attr), rget(ctx)) is eq
            text = right.text if isinstance(right, ast.Addr) else str(
                right.value if isinstance(right, ast.Const) else getattr(right, "name", ""))
            matcher = self.ip_matcher(text, right)
            return lambda ctx: matcher(getattr(ctx, attr)) is eq
        if name in ("src_port", "dst_port"):
            attr = "src_port" if name == "src_port" else "local_port"
            rget = self.value(right)
            where = f" at {expr.pos}"
            return lambda ctx: compare_values(op, getattr(ctx, attr), _to_int(rget(ctx)), where=where)
        if name == "proto":
            if op not in ("==", "!="):
                raise binder.error(expr, "proto can only be compared with == or !=")
            want = str(getattr(right, "name", getattr(right, "value", ""))).lower()
            if want not in ("udp", "tcp", "tls", "sctp", "any"):
                raise binder.error(right, f"unknown protocol '{want}' (udp, tcp, tls, sctp or any)")
            eq = op == "=="
            if want == "any":
                return lambda ctx: eq
            return lambda ctx: ((ctx.proto or "").lower() == want) is eq
        if name == "af":
            if op not in ("==", "!="):
                raise binder.error(expr, "af can only be compared with == or !=")
            want = str(getattr(right, "name", getattr(right, "value", ""))).lower()
            if want not in ("inet", "inet6"):
                raise binder.error(right, f"unknown address family '{want}' (inet or inet6)")
            eq = op == "=="
            six = want == "inet6"
            return lambda ctx: ((":" in (ctx.src_ip or "")) == six) is eq
        if name == "msg:len":
            if isinstance(right, ast.Ident) and right.name == "max_len":
                rget = lambda ctx: MAX_LEN  # noqa: E731
            else:
                rget = self.value(right)
            where = f" at {expr.pos}"
            return lambda ctx: compare_values(op, len(ctx.msg.to_bytes()), _to_int(rget(ctx)), where=where)
        raise binder.error(kw, f"unknown keyword '{name}'")

    def ip_matcher(self, text: str, node: Any) -> Callable[[str], bool]:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            resolve = getattr(self.core, "resolve_host", None)
            addrs: set[str] = set()
            if resolve is not None:
                try:
                    addrs = set(resolve(text) or ())
                except Exception:  # noqa: BLE001 - resolution failure: no match
                    addrs = set()
            lowered = text.lower()
            return lambda ip: ip in addrs or (ip or "").lower() == lowered
        def in_net(ip: str) -> bool:
            try:
                return ipaddress.ip_address(ip) in net
            except ValueError:
                return False
        return in_net


def _ip_in(ip: str, spec: Value) -> bool:
    if spec is None or not ip:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(str(spec), strict=False)
    except ValueError:
        return ip == str(spec)


def _coerce(r: Any) -> int:
    if r is None:
        return 1
    if r is True:
        return 1
    if r is False:
        return -1
    return int(r)


def _kw_method(ctx: Any) -> Value:
    msg = ctx.msg
    try:
        return msg.method if msg is not None else None
    except OpensipsgError:
        return None


def _kw_uri(ctx: Any) -> Value:
    return ctx.ruri if ctx.request is not None else None


def _kw_from(ctx: Any) -> Value:
    try:
        return ctx.msg.from_.uri_text
    except (OpensipsgError, AttributeError):
        return None


def _kw_to(ctx: Any) -> Value:
    try:
        return ctx.msg.to.uri_text
    except (OpensipsgError, AttributeError):
        return None


def _kw_status(ctx: Any) -> Value:
    msg = ctx.msg
    return None if msg is None or msg.is_request else str(msg.status)


_KEYWORD_GETTERS = {"method": _kw_method, "uri": _kw_uri, "from_uri": _kw_from,
                    "to_uri": _kw_to, "status": _kw_status}


# --- blocks as generated functions ------------------------------------------------

class _BlockWriter:
    """Writes a block as the source of one Python function ``block(ctx)``.

    A closure per statement costs a frame each (about 470 instructions); a route is
    mostly calls and ``if (f(..))`` / ``if (!f(..))`` on calls, so those are written
    inline with the same steps as make_call's closures (ParseError handler,
    coercion, $retcode, a 0 returned at once), their branches nested in the same
    function. Anything else is its closure, called from the function. The names the
    code uses (handlers, argument values, closures) are in the function's globals.
    """

    MAX_DEPTH = 24  # deeper branches become a block function of their own (indentation)

    def __init__(self, comp: "_Compiler") -> None:
        self.comp = comp
        self.lines: list[str] = ["def block(ctx):", " r = 1"]
        self.names: dict[str, Any] = {"ParseError": ParseError, "_coerce": _coerce, "_Return": _Return}

    def name(self, value: Any) -> str:
        name = f"n{len(self.names)}"
        self.names[name] = value
        return name

    def function(self) -> Action:
        self.lines.append(" return r")
        namespace = dict(self.names)
        exec(compile("\n".join(self.lines), "<script block>", "exec"), namespace)  # noqa: S102
        return namespace["block"]  # type: ignore[no-any-return]

    def block(self, statements: Iterable[Any], depth: int) -> None:
        """Code leaving the block's code in r (1 when empty); a 0 returns 0."""
        pad = " " * depth
        self.lines.append(f"{pad}r = 1")
        for stmt in statements:
            if isinstance(stmt, ast.Exit):
                self.lines.append(f"{pad}return 0")
            elif isinstance(stmt, ast.Call):
                self.call(stmt, depth)
            elif isinstance(stmt, ast.If) and depth < self.MAX_DEPTH:
                if self.comp.call_condition(stmt.cond)[0] is not None:
                    self.if_call(stmt, depth)
                else:
                    self.if_cond(stmt, depth)
            elif isinstance(stmt, ast.RouteCall):
                self.route_call(stmt, depth)
            elif isinstance(stmt, ast.Block) and depth < self.MAX_DEPTH:
                self.block(stmt.statements, depth)
            else:
                action = self.name(self.comp.statement(stmt))
                self.lines += [f"{pad}r = {action}(ctx)", f"{pad}if r == 0:", f"{pad} return 0"]

    def route_call(self, stmt: ast.RouteCall, depth: int) -> None:
        """route_call's closure: r is the route's code (a 0 returns 0)."""
        self.comp.route_call(stmt, statement=True)  # checks the name, as before
        cell = self.name(self.comp.route_cell(stmt.name))
        too_deep = self.name(lambda: log.error("%s: too many recursive route() calls (max %d)",
                                               stmt.pos, MAX_RECURSION))
        pad = " " * depth
        self.lines += [
            f"{pad}if ctx.depth >= {MAX_RECURSION}:", f"{pad} {too_deep}()", f"{pad} r = -1",
            f"{pad}else:", f"{pad} ctx.depth += 1",
            f"{pad} try:", f"{pad}  r = {cell}[0](ctx)",
            f"{pad} except _Return as ret:", f"{pad}  r = ret.value",
            f"{pad} finally:", f"{pad}  ctx.depth -= 1",
            f"{pad} if r == 0:", f"{pad}  return 0",
            f"{pad} ctx.retcode = r",
        ]

    def call(self, stmt: ast.Call, depth: int) -> None:
        """make_call's steps: r is the call's code (never 0 after this code)."""
        handler, values = self.comp.bind_call(stmt)
        self.call_code(handler, values, stmt, depth)

    def call_code(self, handler: Callable[..., int], values: tuple[Any, ...], stmt: ast.Call,
                  depth: int) -> None:
        pad = " " * depth
        inline = getattr(handler, "script_inline", None)
        if inline is not None:
            # the module's expression for the call, written in place of it (no frame): it
            # gives an int other than 0, or raises ParseError for its own code
            expression, on_parse_error = inline
            self.lines += [
                f"{pad}try:", f"{pad} r = {expression.format(*map(self.name, values))}",
                f"{pad}except ParseError:", f"{pad} r = {on_parse_error}",
                f"{pad}ctx.retcode = r",
            ]
            return
        args = "".join(f", {self.name(v)}" for v in values)
        on_error = self.name(self.comp.parse_error_handler(stmt))
        self.lines += [
            f"{pad}try:", f"{pad} r = {self.name(handler)}(ctx{args})",
            f"{pad}except ParseError as exc:", f"{pad} r = {on_error}(ctx, exc)",
            f"{pad}if r.__class__ is not int:", f"{pad} r = _coerce(r)",
            f"{pad}ctx.retcode = r",
            f"{pad}if r == 0:", f"{pad} return 0",
        ]

    def if_call(self, stmt: ast.If, depth: int) -> None:
        """s_If's if_call, inline: the branch taken sets $retcode to its code (1 and
        $retcode untouched when the condition fails and there is no else)."""
        call, truth = self.comp.call_condition(stmt.cond)
        handler, values = self.comp.bind_call(call)  # type: ignore[arg-type]
        self.call_code(handler, values, call, depth)  # type: ignore[arg-type]
        self.branches(stmt, f"r {'>' if truth else '<'} 0:", depth)  # (r is not 0 here)

    def if_cond(self, stmt: ast.If, depth: int) -> None:
        """s_If's if_cond / if_cond_else (the condition is a closure returning a bool)."""
        expr, negated = stmt.cond, False
        if isinstance(expr, ast.Not):
            expr, negated = expr.expr, True
        # the branches compiled before the condition, as s_If does (the same error first)
        at = len(self.lines)
        self.branches(stmt, "", depth)
        cond = self.comp.cond(expr)
        inline = getattr(cond, "inline", None)  # (an expression the condition gives as source)
        test = inline[0].format(*map(self.name, inline[1])) if inline else f"{self.name(cond)}(ctx)"
        self.lines[at] += f"{'not ' if negated else ''}{test}:"

    def branches(self, stmt: ast.If, test: str, depth: int) -> None:
        pad = " " * depth
        self.lines.append(f"{pad}if {test}")
        self.block(stmt.then.statements, depth + 1)
        self.lines.append(f"{pad} ctx.retcode = r")
        self.lines.append(f"{pad}else:")
        if stmt.else_ is None:
            self.lines.append(f"{pad} r = 1")
        else:
            self.block(stmt.else_.statements, depth + 1)
            self.lines.append(f"{pad} ctx.retcode = r")


# --- the compiled script ---------------------------------------------------------------------

_RUN_KINDS = {
    "request": RouteType.REQUEST, "route": RouteType.REQUEST, "branch": RouteType.BRANCH,
    "failure": RouteType.FAILURE, "onreply": RouteType.ONREPLY, "error": RouteType.ERROR,
    "local": RouteType.LOCAL, "startup": RouteType.STARTUP, "timer": RouteType.TIMER,
}


class Script:
    """A compiled script. The Core calls :meth:`run`, :meth:`has`, :meth:`route_names`
    and :attr:`request_route`, and reads :attr:`timer_routes`."""

    def __init__(self, routes: dict[str, dict[str, Action]], timer_routes: list[tuple[str, int]],
                 binder: Binder) -> None:
        self._routes = routes
        self.timer_routes = timer_routes
        self.binder = binder
        # the main route itself, for the Core's per-request call (run("request", "0", ctx)
        # costs a frame and two lookups): called on a fresh RouteContext, it returns the
        # return code (0 after exit/drop) or raises RouteEnd, which the caller catches
        self.request_route: Action = routes["request"].get("0") or self._no_request_route

    @staticmethod
    def _no_request_route(ctx: Any) -> int:
        raise KeyError("no request route '0'")

    def has(self, kind: str, name: str = "0") -> bool:
        return str(name) in self._routes.get(kind, {})

    def route_names(self, kind: str) -> list[str]:
        return list(self._routes.get(kind, {}))

    def run(self, kind: str, name: str, ctx: Any) -> int:
        """Run a route; returns its return code (0 after exit/drop)."""
        table = self._routes.get(kind)
        if table is None:
            raise ValueError(f"unknown route kind {kind!r}")
        fn = table.get(str(name))
        if fn is None:
            raise KeyError(f"no {kind} route {name!r}")
        nested = kind == "route"
        if not nested:
            ctx.sflags = 0
            ctx.depth = 0
            ctx.stop = False
            ctx.dropped = False
        try:
            r = fn(ctx)
        except _Return as ret:
            r = ret.value
        except _Stop:
            r = 0
        except _Break:  # cannot happen: the parser only allows break in a switch
            r = 1
        if r == 0:
            ctx.stop = True
        return r


def compile_script(config: ast.Config, core: Any, modules: dict[str, Module]) -> Script:
    """Bind and compile ``config``; raises ScriptError (file:line:col) on any problem."""
    comp = _Compiler(config, core, modules)
    comp.compute_route_types()
    routes: dict[str, dict[str, Action]] = {k: {} for k in _RUN_KINDS}
    # sub-routes (and the main route)
    for name, route in config.routes.items():
        types = comp.route_types.get(name, RouteType(0))
        label = "route" if name == "0" else f"route[{name}]"
        fn = comp.compile_route(route.body, types, label)
        comp.route_cell(name)[0] = fn
        routes["route"][name] = fn
    if "0" in routes["route"]:
        routes["request"]["0"] = routes["route"]["0"]
    for table, kind, rtype in (("branch_routes", "branch", RouteType.BRANCH),
                               ("failure_routes", "failure", RouteType.FAILURE),
                               ("onreply_routes", "onreply", RouteType.ONREPLY)):
        for name, route in getattr(config, table).items():
            label = f"{route.kind}[{name}]"
            routes[kind][name] = comp.compile_route(route.body, rtype, label)
    for attr, kind, rtype in (("error_route", "error", RouteType.ERROR),
                              ("local_route", "local", RouteType.LOCAL),
                              ("startup_route", "startup", RouteType.STARTUP)):
        route = getattr(config, attr)
        if route is not None:
            routes[kind]["0"] = comp.compile_route(route.body, rtype, attr)
    comp.error_route[0] = routes["error"].get("0")
    timers = []
    for name, timer in config.timer_routes.items():
        routes["timer"][name] = comp.compile_route(timer.body, RouteType.TIMER, f"timer_route[{name}]")
        timers.append((name, timer.interval))
    return Script(routes, timers, comp.binder)
