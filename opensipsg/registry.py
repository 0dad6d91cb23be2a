"""The one registry: modules, script functions, module parameters, pseudo-variables,
MI commands and statistics, all under their OpenSIPS 1.6 names.

Modules declare themselves with :func:`register_module` on a :class:`Module`
subclass; script functions are methods marked with :func:`function`; core
functions and pseudo-variables are registered with :func:`core_function` and
:func:`pseudo_variable`. The tables are filled at import time and are read-only
once the server has started (the only global mutable state we allow).

Function arguments are declared by *kind*; the script binder turns what the
script wrote into ready values once, at load time ("fixups"):

======== ===========================================================================
kind     value handed to the function
======== ===========================================================================
str      a static string (no pseudo-variables)
fmt      a Format: ``.render(ctx) -> str``, ``.static`` is the text when it has no PVs
int      an int (module functions accept it quoted, as 1.6 requires)
intfmt   an int or a Format rendering to one (e.g. a reply code given as a PV)
regex    a compiled, case-insensitive POSIX ERE (``re.Pattern``), as script conditions use them
lineregex  the same compiled the way textops' fixups do: REG_NEWLINE (``^``/``$`` per
         line, ``.`` and ``[^..]`` never match a line end) and glibc's escapes
pv       a PV accessor (``.get(ctx)``, ``.set(ctx, value)``)
route    the name of a route (checked to exist)
any      the raw argument node
======== ===========================================================================
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar


class RouteType(enum.IntFlag):
    REQUEST = 1
    FAILURE = 2
    ONREPLY = 4
    BRANCH = 8
    ERROR = 16
    LOCAL = 32
    STARTUP = 64
    TIMER = 128


R = RouteType.REQUEST
F = RouteType.FAILURE
O = RouteType.ONREPLY  # noqa: E741 - OpenSIPS's own letter
B = RouteType.BRANCH
E = RouteType.ERROR
L = RouteType.LOCAL
S = RouteType.STARTUP
T = RouteType.TIMER
ALL_ROUTES = R | F | O | B | E | L | S | T

ROUTE_TYPE_NAMES = {
    R: "request route",
    F: "failure_route",
    O: "onreply_route",
    B: "branch_route",
    E: "error_route",
    L: "local_route",
    S: "startup_route",
    T: "timer_route",
}

ARG_KINDS = frozenset({"str", "fmt", "int", "intfmt", "regex", "lineregex", "pv", "route", "any"})


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """A script-callable function: its name, argument kinds and where it may be called.

    ``kinds`` lists the argument kinds; the last ``optional`` of them may be left out.
    ``handler(ctx, *values)`` returns an int with OpenSIPS semantics
    (>0 true, <0 false, 0 stop the script). For module functions the handler is
    an unbound method; the binder binds it to the loaded module instance.
    ``fixup`` (optional) replaces the per-kind conversion: it gets the raw
    argument nodes and the binder and returns the values.
    """

    name: str
    kinds: tuple[str, ...]
    optional: int
    routes: RouteType
    handler: Callable[..., int]
    module: str | None = None
    fixup: Callable[..., tuple[Any, ...]] | None = None

    @property
    def min_args(self) -> int:
        return len(self.kinds) - self.optional

    @property
    def max_args(self) -> int:
        return len(self.kinds)


@dataclass(frozen=True, slots=True)
class Param:
    """A module parameter: ``type`` is int or str; ``multi`` params may be set repeatedly."""

    type: type
    default: Any
    multi: bool = False


@dataclass(frozen=True, slots=True)
class PVSpec:
    """A pseudo-variable class: ``$name`` or ``$name(param)``.

    ``getter(ctx, param) -> None | int | str``; ``setter(ctx, param, value)`` (value
    None means NULL) or None when read-only. ``needs_param`` says whether ``$name``
    requires the parenthesised part. ``prepare(param) -> param`` may validate or
    pre-compute the parameter at load time (raise ValueError with a message).
    """

    name: str
    getter: Callable[[Any, Any], Any]
    setter: Callable[[Any, Any, Any], None] | None = None
    needs_param: bool = False
    prepare: Callable[[Any], Any] | None = None
    module: str | None = None


@dataclass(frozen=True, slots=True)
class MICommand:
    """An MI command: ``handler(core, args: list[str]) -> MIResult`` (see opensipsg.mi)."""

    name: str
    handler: Callable[..., Any]
    module: str | None = None


@dataclass(frozen=True, slots=True)
class _Declared:
    """One declaration of a script function (module or core), before it has a handler."""

    name: str
    kinds: tuple[str, ...]
    optional: int
    routes: RouteType
    fixup: Callable[..., tuple[Any, ...]] | None
    aliases: tuple[str, ...]

    def __post_init__(self) -> None:
        for kind in self.kinds:
            if kind not in ARG_KINDS:
                raise ValueError(f"unknown argument kind {kind!r} for {self.name}")
        if self.optional > len(self.kinds):
            raise ValueError(f"{self.name}: more optional arguments than arguments")

    def specs(self, handler: Callable[..., int], module: str | None) -> list[FunctionSpec]:
        """The FunctionSpec under the name and under each alias."""
        return [FunctionSpec(fname, self.kinds, self.optional, self.routes, handler, module, self.fixup)
                for fname in (self.name, *self.aliases)]


def function(
    name: str,
    *kinds: str,
    optional: int = 0,
    routes: RouteType = ALL_ROUTES,
    fixup: Callable[..., tuple[Any, ...]] | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Mark a Module method as the script function ``name``.

    The same method may be marked several times (e.g. one-argument and
    two-argument forms are one declaration with ``optional=1``; 1.5 names are
    ``aliases``).
    """
    declared = _Declared(name, kinds, optional, routes, fixup, aliases)

    def mark(method: Callable[..., int]) -> Callable[..., int]:
        method._script_functions = (  # type: ignore[attr-defined]
            *getattr(method, "_script_functions", ()), declared)
        return method

    return mark


def mi_command(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a Module method as the MI command ``name``: ``method(self, args) -> MIResult``."""

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        method._mi_commands = tuple(getattr(method, "_mi_commands", ())) + (name,)  # type: ignore[attr-defined]
        return method

    return mark


class Module:
    """Base class of every module.

    Subclasses set ``name`` (the 1.6 module name), ``params`` (modparams with types
    and defaults) and optionally ``depends`` (modules that must be loaded too), and
    mark script functions with :func:`function`. An instance exists per running
    Core; its params arrive as attributes (``self.max_limit``...). Life cycle:
    ``__init__(core)`` -> params set -> ``init()`` (after every module and the script
    are loaded; validate, open backends) -> ``start()`` (edge: greenlets) -> ``stop()``.
    """

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, Param]] = {}
    depends: ClassVar[tuple[str, ...]] = ()
    functions: ClassVar[dict[str, FunctionSpec]] = {}
    mi_commands: ClassVar[dict[str, str]] = {}  # MI name -> method name
    pseudo_variables: ClassVar[tuple[PVSpec, ...]] = ()
    # names from older releases that 1.6 refuses at start-up, with the message to give
    obsolete: ClassVar[dict[str, str]] = {}

    def __init__(self, core: Any) -> None:
        self.core = core
        for pname, param in self.params.items():
            setattr(self, pname, [] if param.multi else param.default)

    def set_param(self, pname: str, value: Any) -> None:
        param = self.params[pname]
        if param.multi:
            getattr(self, pname).append(value)
        else:
            setattr(self, pname, value)

    def on_bind(self, function: str, values: tuple[Any, ...]) -> None:
        """Called at load time for every call of one of this module's functions in
        the script, with its fixed-up arguments (e.g. registrar registers the
        usrloc tables its save()/lookup() calls name, as 1.6 does at start-up)."""

    def init(self) -> None:
        """Check parameters and prepare state, once the whole script is loaded."""

    def start(self) -> None:
        """Start background work (timers, sockets); called in the running server only."""

    def stop(self) -> None:
        """Stop background work and flush what must be kept."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        functions: dict[str, FunctionSpec] = {}
        mi: dict[str, str] = {}
        for base in reversed(cls.__mro__[1:]):
            functions.update(getattr(base, "functions", {}) or {})
            mi.update(getattr(base, "mi_commands", {}) or {})
        for attr, member in vars(cls).items():
            for declared in getattr(member, "_script_functions", ()):
                for spec in declared.specs(member, cls.name or None):
                    functions[spec.name] = spec
            for mname in getattr(member, "_mi_commands", ()):
                mi[mname] = attr
        cls.functions = functions
        cls.mi_commands = mi


def find_module(core: Any, name: str) -> Any:
    """A loaded module instance by name (``core.module`` or ``core.modules``), or None."""
    finder = getattr(core, "module", None)
    found = finder(name) if callable(finder) else None
    if found is None:
        found = (getattr(core, "modules", None) or {}).get(name)
    return found


@dataclass
class Registry:
    modules: dict[str, type[Module]] = field(default_factory=dict)
    # other names a module is loaded by ("xlog" -> core, "auth_radius"...)
    module_aliases: dict[str, str] = field(default_factory=dict)
    core_functions: dict[str, FunctionSpec] = field(default_factory=dict)
    pseudo_variables: dict[str, PVSpec] = field(default_factory=dict)
    core_mi_commands: dict[str, MICommand] = field(default_factory=dict)

    def module_class(self, name: str) -> type[Module] | None:
        name = name.lower()
        name = self.module_aliases.get(name, name)
        return self.modules.get(name)


REGISTRY = Registry()


def register_module(cls: type[Module]) -> type[Module]:
    """Class decorator: make a Module loadable by ``loadmodule "<name>.so"``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no module name")
    REGISTRY.modules[cls.name] = cls
    for spec in cls.pseudo_variables:
        REGISTRY.pseudo_variables[spec.name] = spec
    return cls


def alias_module(alias: str, target: str) -> None:
    """``loadmodule "alias.so"`` loads ``target`` (a module name from another release)."""
    REGISTRY.module_aliases[alias] = target


def core_function(
    name: str,
    *kinds: str,
    optional: int = 0,
    routes: RouteType = ALL_ROUTES,
    fixup: Callable[..., tuple[Any, ...]] | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Register a core (module-less) script function: ``handler(ctx, *values)``."""
    declared = _Declared(name, kinds, optional, routes, fixup, aliases)

    def mark(handler: Callable[..., int]) -> Callable[..., int]:
        for spec in declared.specs(handler, None):
            REGISTRY.core_functions[spec.name] = spec
        return handler

    return mark


def pseudo_variable(
    name: str,
    setter: Callable[[Any, Any, Any], None] | None = None,
    needs_param: bool = False,
    prepare: Callable[[Any], Any] | None = None,
    aliases: tuple[str, ...] = (),
) -> Callable[[Callable[[Any, Any], Any]], Callable[[Any, Any], Any]]:
    """Register a core pseudo-variable getter ``getter(ctx, param)``."""

    def mark(getter: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        for pvname in (name, *aliases):
            REGISTRY.pseudo_variables[pvname] = PVSpec(pvname, getter, setter, needs_param, prepare)
        return getter

    return mark


def core_mi(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a core MI command ``handler(core, args)``."""

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY.core_mi_commands[name] = MICommand(name, handler)
        return handler

    return mark
