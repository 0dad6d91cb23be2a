"""avpops -- AVP operations and user preferences in a database (OpenSIPS 1.6).

Overview
    Loads, stores and deletes AVPs in the ``usr_preferences`` table (one row
    per value: uuid | username, domain | attribute, type, value), runs raw SQL
    into AVPs, and works on AVPs in memory: delete, copy, push into the
    R-URI / $du / a new branch, check, integer operations, substitutions.
    Follows 1.6's avpops.c / avpops_impl.c / avpops_db.c, return codes included.

    AVP names: ``$avp(i:N)``, ``$avp(s:name)``, an ``avp_aliases`` alias
    (``$avp(fwd)``) or a dynamic ``$avp($var(x))``. Where 1.6 allows it
    (avp_db_*, avp_delete) a bare type letter stands for "every AVP":
    ``a`` (or ``*``) any name, ``s`` string names, ``i`` integer names
    (script-flag digits after the letter are accepted and ignored, as in
    ``$avp(i3:5)``).

    DB source (first argument of avp_db_*): a pseudo-variable or a constant,
    optionally followed by ``/username``, ``/domain``, ``/uri`` or
    ``/uuid``. $ru, $fu, $tu, $ou (and their long names) default to ``uri``
    (username = the URI's user; domain too when use_domain=1 or with
    ``/domain``); every other PV and any constant default to ``uuid`` (the
    value itself matches the uuid column). With a URI the URI must have a user
    and a host; an empty/NULL PV is an error (-1).

    Type column (bit 1: value is an integer, bit 2: name is an integer):
    0 str name : str value, 1 str:int, 2 int:str, 3 int:int. Loading into
    ``$avp(s:x)`` takes only rows with a string name (0, 1), into
    ``$avp(i:N)`` only rows with an integer name (2, 3); ``a`` takes both,
    the names coming from the attribute column. A row whose type says
    "integer" but whose value (or name) is not an unsigned integer is
    skipped with an error, as are rows with NULL fields. avp_db_store writes
    type from the AVP (name int? 2 : 0 | value int? 1 : 0) and the value as
    text; it never writes again a value it loaded (1.6's AVP_IS_IN_DB: kept
    per name as a multiset of loaded values, carried with the AVPs).

    Values travel as bound parameters: SQL metacharacters are stored and
    matched verbatim. avp_db_query runs the text you give it (PVs expanded,
    not escaped -- as 1.6; use {s.escape.common}). Database failures are
    logged at ERR and the function returns -1 (1.6's avp_db_delete returned
    1 even then; that is a bug we do not copy). Every statement runs under
    the database layer's timeout.

Dependencies
    A database (db_url) for the avp_db_* functions; start-up fails when one
    of them is used without a db_url (as 1.6).

Parameters
    db_url (str, repeatable): ``"url"`` is id 0 (the default), ``"N url"``
        gives it id N, for the db_id argument.
    avp_table "usr_preferences", use_domain (int, 0), uuid_column "uuid",
    username_column "username", domain_column "domain", attribute_column
    "attribute", value_column "value", type_column "type", buf_size (int,
    1024: the longest avp_db_query text + 1).
    db_scheme (str, repeatable): ``name:element[;element]*`` with elements
        uuid_col=, username_col=, domain_col=, value_col=,
        value_type=integer|string, table= ; used as ``$avp(x)/$name`` in
        avp_db_load (the value column only, typed by value_type).

Functions  [every route but error_route; 1 = true, -1 = false/error]
    avp_db_load(source, name[, db_id]) -- 1 when at least one AVP was
        loaded. name: $avp(...) / alias / a|s|i, optionally ``/table`` or
        ``/$scheme``.
    avp_db_store(source, name[, db_id]) -- 1 when at least one row was
        written.
    avp_db_delete(source, name[, db_id]) -- 1 unless the delete failed.
    avp_db_query(query[, "$avp(a);$avp(b)"[, db_id]]) -- each row's columns
        into the AVPs (default i:1, i:2...); the first row ends up on top.
        NULL, empty and non-integer numeric columns are skipped. 1 also when
        nothing is returned; -1 on a database error.
    avp_delete(name[/g]) -- the newest value (g: all); ``a``/``s``/``i``
        delete every AVP of that kind. 1 when something was deleted.
    avp_pushto(dest, name[/g]) -- dest ``$ru``, ``$ru/username``,
        ``$ru/domain``, ``$du``, ``$br`` (a new branch); name any PV (g:
        every value of an AVP; for $ru each further value first pushes the
        current R-URI as a branch). -1 when there is no value or it is not
        usable (an integer for $du/$br, a bad URI).
    avp_copy(old, new[/flags]) -- g all values, d delete the source, n cast
        to integer, s cast to string.
    avp_check(name, "op/value[/flags]") -- op eq ne lt le gt ge re fm and
        or xor; value ``i:N`` / ``s:text`` / text (a string!) / a PV; flags g
        (every value of name) and i (case-insensitive eq/ne/fm; lt..ge are
        always case-insensitive, re always is). Values of different types
        never match.
    avp_op(name[/dst], "op/value[/flags]") -- op add sub mul div mod and or
        xor not on the integer values (32-bit), value ``i:N`` or a PV; the
        result is added on top of dst (default: name); d deletes the source
        values used.
    avp_subst(src[/dst[/flags]], "/re/repl/flags") -- on string values;
        replacement may hold \\0..\\9 and PVs; g all values, d delete source.
    avp_insert(name, value, index) -- insert at position index (0 = top).
    is_avp_set(name[/e|s|n]) -- e: empty value ("" or 0), s: a string, n:
        an integer; with an index ``$(avp(x)[2])`` that value is checked.
    avp_print() -- log every AVP at INFO.
    avp_printf is the core's pv_printf alias. avp_write() is not a 1.6
    function (gone since 1.2): start-up says to assign ``$avp(x) = value``.

Example
    modparam("avpops", "db_url", "mysql://opensips:opensipsrw@localhost/opensips")
    if (avp_db_load("$ru/username", "$avp(s:callfwd)")) {
        avp_pushto("$ru", "$avp(s:callfwd)");
        t_relay();
    }
"""
from __future__ import annotations

import fnmatch
import logging
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from ..auth import store
from ..errors import ConfigError, OpensipsgError, ParseError
from ..registry import B, F, L, Module, O, Param, R, S, T, function, register_module
from ..script import ast
from ..script.context import Branch
from ..script.lexer import scan_pv
from ..script.parser import parse_pv
from ..script.pvars import MAX_BRANCHES, avp_key
from ..script.regex import compile_ere
from ..sip.uri import parse_uri
from .textops import parse_subst

log = logging.getLogger(__name__)

ROUTES = R | F | B | O | L | S | T  # 1.6: every route but error_route

Key = tuple[str, Any]

# PVs whose value is a URI: the default source flag is "uri" (1.6: PVT_RURI/FROM/TO/OURI)
URI_PVS = frozenset({"ru", "ruri", "fu", "from", "tu", "to", "ou", "ouri"})

# where the values avp_db_load took from the database are remembered (AVP_IS_IN_DB);
# not an "i"/"s" key, so no script name reaches it; it travels with the AVPs
IN_DB = ("avpops", "in_db")

DB_VAL_INT = 1   # type column: the value is an integer
DB_NAME_INT = 2  # type column: the name is an integer

DB_FUNCTIONS = ("avp_db_load", "avp_db_store", "avp_db_delete", "avp_db_query")


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def _uint(text: str) -> int | None:
    """1.6's str2int: an unsigned decimal (no sign, no blanks) or None."""
    if not text or not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if value <= 0xFFFFFFFF else None


def _is_avp_key(key: Any) -> bool:
    return isinstance(key, tuple) and len(key) == 2 and key[0] in ("i", "s")


def _set_all(avps: Any, key: Key, values: list[Any]) -> None:
    """Make ``values`` (top first) the values of ``key``."""
    avps.delete(key, None)
    for value in reversed(values):
        avps.add(key, value)


def _in_db(avps: Any) -> Counter:
    pairs = avps.get(IN_DB)
    return Counter(pairs or ())


def _save_in_db(avps: Any, counter: Counter) -> None:
    pairs = tuple(counter.elements())
    if pairs:
        avps.replace(IN_DB, pairs)  # type: ignore[arg-type]
    else:
        avps.delete(IN_DB, None)


def _mark_in_db(avps: Any, entries: list[tuple[Key, Any]]) -> None:
    if entries:
        counter = _in_db(avps)
        counter.update(entries)
        _save_in_db(avps, counter)


# --- parsed arguments ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AvpName:
    """An AVP named in an argument: a fixed key or a dynamic ``$avp($pv)``."""

    text: str
    key: Key | None
    dynamic: Any = None  # PV giving the name
    index: Any = None    # int, "*", a PV or None

    def resolve(self, ctx: Any) -> Key | None:
        if self.key is not None:
            return self.key
        value = self.dynamic.get(ctx)
        if value is None or value == "":
            return None
        if isinstance(value, int):
            return ("i", value)
        try:
            return avp_key(str(value), {})
        except ValueError:
            return None

    def index_of(self, ctx: Any) -> Any:
        index = self.index
        if index is None or isinstance(index, (int, str)):
            return index
        value = index.get(ctx)
        try:
            return int(value)
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Source:
    """First argument of avp_db_*: a PV or a constant, and what it identifies."""

    text: str
    pv: Any       # PV or None
    const: str | None
    mode: str     # "uuid", "uri", "username" or "domain"


@dataclass(frozen=True, slots=True)
class DbName:
    """Second argument of avp_db_*: a name (or a|s|i), a table or a scheme."""

    text: str
    avp: AvpName | None
    match: str  # "a", "s" or "i" when avp is None
    table: str | None
    scheme: "Scheme | None"


@dataclass(frozen=True, slots=True)
class Scheme:
    name: str
    uuid_col: str | None = None
    username_col: str | None = None
    domain_col: str | None = None
    value_col: str | None = None
    table: str | None = None
    value_int: bool = False


@dataclass(frozen=True, slots=True)
class CheckValue:
    """``op/value/flags`` of avp_check and avp_op."""

    op: str
    const: Any          # int or str when not a PV
    pv: Any             # a PV
    avp: AvpName | None  # when the value is an AVP
    all_values: bool = False
    icase: bool = False
    delete: bool = False
    regex: Any = None


def parse_db_scheme(text: str) -> Scheme:
    """``name:uuid_col=..;value_col=..;value_type=integer;table=..`` (1.6's db_scheme)."""
    name, sep, rest = text.strip().partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name) or not rest.strip():
        raise ValueError(f"db_scheme: parse error in {text!r}")
    fields: dict[str, Any] = {}
    for element in rest.split(";"):
        element = element.strip()
        if not element:
            continue
        attr, eq, value = element.partition("=")
        attr, value = attr.strip().lower(), value.strip()
        if not eq or not attr or not value:
            raise ValueError(f"db_scheme: parse error in {text!r} around {element!r}")
        if attr in ("uuid_col", "username_col", "domain_col", "value_col", "table"):
            if attr in fields:
                raise ValueError(f"db_scheme: {attr} given twice in {text!r}")
            fields[attr] = value
        elif attr == "value_type":
            if value.lower() == "integer":
                fields["value_int"] = True
            elif value.lower() == "string":
                fields["value_int"] = False
            else:
                raise ValueError(f"db_scheme: unknown value type {value!r}")
        else:
            raise ValueError(f"db_scheme: unknown attribute {attr!r}")
    return Scheme(name, **fields)


def parse_intstr(text: str) -> int | str:
    """1.6's parse_intstr_value: ``i:N`` (decimal, signed, or 0x hex) or ``s:text``/text."""
    if len(text) > 1 and text[1] == ":":
        kind, body = text[0].lower(), text[2:]
        if kind not in "is":
            raise ValueError(f"unknown value type <{text[0]}>")
        if not body:
            raise ValueError(f"parse error around <{text}>")
        if kind == "s":
            return body
        try:
            if len(body) > 2 and body[:2].lower() == "0x":
                return _i32(int(body[2:], 16))
            if not re.fullmatch(r"[+-]?[0-9]+", body):
                raise ValueError
            return _i32(int(body))
        except ValueError:
            raise ValueError(f"value is not int as type says <{body}>") from None
    if not text:
        raise ValueError("empty value")
    return text


# --- fixups --------------------------------------------------------------------------


def _split(text: str) -> tuple[str, str | None]:
    """``thing/rest`` -> (thing, rest); 1.6 cuts at the first '/'."""
    head, sep, rest = text.partition("/")
    return head, (rest if sep else None)


def _pv_ref(binder: Any, node: Any, text: str) -> ast.PVRef:
    text = text.strip()
    end = scan_pv(text, 0) if text.startswith("$") else -1
    if end != len(text):
        raise binder.error(node, f"'{text}' is not a pseudo-variable")
    return parse_pv(text, node.pos)


def _avp_name(binder: Any, node: Any, text: str) -> AvpName:
    ref = _pv_ref(binder, node, text)
    if ref.name != "avp":
        raise binder.error(node, f"an AVP is expected, found '{text}'")
    binder.pv_ref(ref)  # checks the name, warns about bare names
    index = ref.index
    if isinstance(index, ast.PVRef):
        index = binder.pv_ref(index)
    if isinstance(ref.param, ast.PVRef):
        return AvpName(text.strip(), None, binder.pv_ref(ref.param), index)
    try:
        key = avp_key(str(ref.param), binder.avp_aliases)
    except ValueError as exc:
        raise binder.error(node, str(exc)) from None
    return AvpName(text.strip(), key, None, index)


def _type_letter(binder: Any, node: Any, text: str) -> str:
    """``a``/``*``/``s``/``i`` with optional script-flag digits -> 'a', 's' or 'i'."""
    if not text:
        raise binder.error(node, "bad param - expected : $avp(name), *, s or i value")
    letter = text[0].lower()
    if letter == "*":
        letter = "a"
    if letter not in "asi":
        raise binder.error(node, f"bad param '{text}' - expected : $avp(name), *, a, s or i")
    if text[1:] and _uint(text[1:]) is None:
        raise binder.error(node, f"bad avp flags in '{text}'")
    return letter


def _db_url_id(binder: Any, node: Any) -> int:
    text = binder.arg_text(node).strip()
    value = _uint(text)
    if value is None:
        raise binder.error(node, f"bad db_url number <{text}>")
    return value


def _source(binder: Any, node: Any) -> Source:
    text = binder.arg_text(node)
    head, flag = _split(text)
    mode = None
    if flag is not None:
        mode = flag.strip().lower()
        if mode not in ("domain", "username", "uri", "uuid"):
            raise binder.error(node, f"unknown flag <{flag}> (username, domain, uri or uuid)")
    if not head.startswith("$"):
        if not head:
            raise binder.error(node, "empty source")
        return Source(text, None, head, mode or "uuid")
    ref = _pv_ref(binder, node, head)
    default = "uri" if ref.name in URI_PVS and not ref.transforms else "uuid"
    return Source(text, binder.pv_ref(ref), None, mode or default)


def _db_name(binder: Any, node: Any, allow_scheme: bool, module: "AvpopsModule | None") -> DbName:
    text = binder.arg_text(node)
    head, rest = _split(text)
    avp: AvpName | None = None
    match = "a"
    if head.startswith("$"):
        avp = _avp_name(binder, node, head)
    else:
        match = _type_letter(binder, node, head)
    table = scheme = None
    if rest is not None:
        if not rest:
            raise binder.error(node, "empty scheme/table name")
        if rest.startswith("$"):
            if not allow_scheme:
                raise binder.error(node, "function doesn't support DB schemes")
            if avp is None:
                raise binder.error(node, "inconsistent usage of DB scheme without complete "
                                         "specification of AVP name")
            name = rest[1:]
            scheme = module.scheme(name) if module is not None else None
            if scheme is None:
                raise binder.error(node, f"scheme <{name}> not found")
        else:
            table = rest
    return DbName(text, avp, match, table, scheme)


def _module(binder: Any) -> "AvpopsModule | None":
    return binder.modules.get("avpops")


def _db_fixup(allow_scheme: bool) -> Callable[..., tuple[Any, ...]]:
    def fixup(args: Any, binder: Any) -> tuple[Any, ...]:
        values: list[Any] = [_source(binder, args[0]),
                             _db_name(binder, args[1], allow_scheme, _module(binder))]
        if len(args) > 2:
            values.append(_db_url_id(binder, args[2]))
        return tuple(values)
    return fixup


def _query_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    values: list[Any] = [binder.format(args[0])]
    if len(args) > 1:
        text = binder.arg_text(args[1]).strip()
        dest: tuple[AvpName, ...] | None = None
        if text:
            names = [part.strip() for part in text.split(";") if part.strip()]
            if not names:
                raise binder.error(args[1], f"bad format in P2 [{text}]")
            dest = tuple(_avp_name(binder, args[1], name) for name in names)
        values.append(dest)
    if len(args) > 2:
        values.append(_db_url_id(binder, args[2]))
    return tuple(values)


def _delete_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0])
    head, flags = _split(text)
    everything = False
    for flag in flags or "":
        if flag.lower() != "g":
            raise binder.error(args[0], f"bad flag <{flag}>")
        everything = True
    if head.startswith("$"):
        return (_avp_name(binder, args[0], head), "", everything)
    return (None, _type_letter(binder, args[0], head), True)


def _copy_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    source = _avp_name(binder, args[0], binder.arg_text(args[0]))
    head, flags = _split(binder.arg_text(args[1]))
    dest = _avp_name(binder, args[1], head)
    options = set()
    for flag in (flags or "").lower():
        if flag not in "gdns":
            raise binder.error(args[1], f"bad flag <{flag}>")
        options.add(flag)
    return (source, dest, frozenset(options))


def _pushto_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0])
    if not text.startswith("$"):
        raise binder.error(args[0], "bad param 1; expected : $ru $du ...")
    head, flag = _split(text)
    ref = _pv_ref(binder, args[0], head)
    if ref.name in ("ru", "ruri"):
        part = (flag or "").lower()
        if flag is not None and part not in ("username", "domain"):
            raise binder.error(args[0], f"unknown ruri flag \"{flag}\"")
        dest = "ru/" + part if part else "ru"
    elif ref.name in ("du", "duri", "br"):
        if flag is not None:
            raise binder.error(args[0], f"unknown {ref.name} flag \"{flag}\"")
        dest = "br" if ref.name == "br" else "du"
    elif ref.name == "hdr":
        raise binder.error(args[0], "push to header is obsoleted - use append_hf() or "
                                    "append_to_reply() from textops module")
    else:
        raise binder.error(args[0], f"unsupported destination \"{text}\"; expected $ru,$du,$br")
    text2 = binder.arg_text(args[1])
    if not text2.startswith("$"):
        raise binder.error(args[1], "bad param 2; expected : $pseudo-variable ...")
    head2, flags = _split(text2)
    everything = False
    for f in flags or "":
        if f.lower() != "g":
            raise binder.error(args[1], f"bad flag <{f}>")
        everything = True
    ref2 = _pv_ref(binder, args[1], head2)
    if ref2.name == "avp":
        return (dest, _avp_name(binder, args[1], head2), None, everything)
    return (dest, None, binder.pv_ref(ref2), everything)


def _value_pv(binder: Any, node: Any, text: str) -> tuple[Any, AvpName | None]:
    ref = _pv_ref(binder, node, text)
    if ref.name == "avp":
        return None, _avp_name(binder, node, text)
    return binder.pv_ref(ref), None


_CHECK_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "re", "fm", "and", "or", "xor")
_OP_OPS = ("add", "sub", "mul", "div", "mod", "and", "or", "xor", "not")


def _parse_op(binder: Any, node: Any, text: str, ops: tuple[str, ...], flag_chars: str) -> CheckValue:
    slash = text.find("/")
    if slash not in (2, 3):
        raise binder.error(node, f"parse error in <{text}>")
    op = text[:slash].lower()
    if op not in ops:
        raise binder.error(node, f"unknown operation <{text[:slash]}>")
    rest = text[slash + 1:]
    if not rest:
        raise binder.error(node, f"parse error in <{text}>")
    value_text, sep, flags = rest.partition("/")
    if sep and not flags:
        raise binder.error(node, f"parse error in <{text}>")
    options = set()
    for flag in flags.lower():
        if flag not in flag_chars:
            raise binder.error(node, f"unknown flag <{flag}>")
        options.add(flag)
    pv = avp = None
    const: Any = None
    if value_text.startswith("$"):
        pv, avp = _value_pv(binder, node, value_text)
    else:
        try:
            const = parse_intstr(value_text)
        except ValueError as exc:
            raise binder.error(node, f"unable to parse value: {exc}") from None
    return CheckValue(op, const, pv, avp, all_values="g" in options, icase="i" in options,
                      delete="d" in options)


def _check_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0]).strip()
    if not text.startswith("$"):
        raise binder.error(args[0], f"a pseudo-variable is expected, found '{text}'")
    pv, avp = _value_pv(binder, args[0], text)
    check = _parse_op(binder, args[1], binder.arg_text(args[1]), _CHECK_OPS, "gi")
    if check.op == "re":
        if not isinstance(check.const, str):
            raise binder.error(args[1], "regexp operation requires string value")
        try:
            regex = compile_ere(check.const, newline=True)
        except Exception as exc:  # noqa: BLE001 - re.error
            raise binder.error(args[1], f"bad re <{check.const}>: {exc}") from None
        check = CheckValue(check.op, check.const, None, None, check.all_values, check.icase,
                           False, regex)
    elif check.op == "fm" and isinstance(check.const, int):
        raise binder.error(args[1], "fast_match operation requires string value or avp name/alias")
    return (pv, avp, check)


def _op_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    head, rest = _split(binder.arg_text(args[0]))
    source = _avp_name(binder, args[0], head)
    dest = _avp_name(binder, args[0], rest) if rest else None
    value = _parse_op(binder, args[1], binder.arg_text(args[1]), _OP_OPS, "gd")
    if value.pv is None and value.avp is None and not isinstance(value.const, int):
        raise binder.error(args[1], "operations require integer values (i:N) or a pseudo-variable")
    return (source, dest, value)


@dataclass(frozen=True, slots=True)
class Replacement:
    """The replacement of avp_subst: literal text, back-references and PVs."""

    parts: tuple[Any, ...]  # str | int (group) | PV

    def expand(self, ctx: Any, match: re.Match[str]) -> str:
        out = []
        for part in self.parts:
            if part.__class__ is str:
                out.append(part)
            elif isinstance(part, int):
                if part <= (match.re.groups or 0):
                    out.append(match.group(part) or "")
            else:
                value = part.get(ctx)
                out.append("" if value is None else str(value))
        return "".join(out)


def _replacement(binder: Any, node: Any, text: str) -> Replacement:
    parts: list[Any] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append("".join(literal))
            literal.clear()

    i, n = 0, len(text)
    escapes = {"n": "\n", "r": "\r", "t": "\t"}
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt.isdigit():
                flush()
                parts.append(int(nxt))
            else:
                literal.append(escapes.get(nxt, nxt))
            i += 2
            continue
        if ch == "$":
            end = scan_pv(text, i)
            if end > 0:
                flush()
                parts.append(binder.pv_ref(parse_pv(text[i:end], node.pos)))
                i = end
                continue
        literal.append(ch)
        i += 1
    flush()
    return Replacement(tuple(parts))


def _subst_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    text = binder.arg_text(args[0])
    head, rest = _split(text)
    source = _avp_name(binder, args[0], head)
    dest = None
    flags = ""
    if rest:
        if rest.startswith("$"):
            dest_text, _, flags = rest.partition("/")
            dest = _avp_name(binder, args[0], dest_text)
        else:
            flags = rest
    options = set()
    for flag in flags.lower():
        if flag not in "gd":
            raise binder.error(args[0], f"bad flag <{flag}>")
        options.add(flag)
    expr_text = binder.arg_text(args[1])
    try:
        expr = parse_subst(expr_text)
    except ValueError as exc:
        raise binder.error(args[1], f"bad subst re {expr_text}: {exc}") from None
    return (source, dest, frozenset(options), expr, _replacement(binder, args[1], expr.replacement))


def _is_set_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    head, flags = _split(binder.arg_text(args[0]))
    name = _avp_name(binder, args[0], head)
    options = set()
    for flag in (flags or "").lower():
        if flag not in "esn":
            raise binder.error(args[0], f"bad flag <{flag}>")
        options.add(flag)
    if {"s", "n"} <= options:
        raise binder.error(args[0], "invalid flag combination 'n' and 's'")
    return (name, frozenset(options))


def _insert_fixup(args: Any, binder: Any) -> tuple[Any, ...]:
    name = _avp_name(binder, args[0], binder.arg_text(args[0]))
    value_text = binder.arg_text(args[1])
    value: Any
    if value_text.startswith("$") and scan_pv(value_text, 0) == len(value_text):
        value = binder.pv_ref(parse_pv(value_text, args[1].pos))
    else:
        value = binder.format(args[1])
    index = _uint(binder.arg_text(args[2]).strip())
    if index is None:
        raise binder.error(args[2], "bad format for the third argument - must be a positive integer")
    return (name, value, index)


# --- the module ------------------------------------------------------------------------


@register_module
class AvpopsModule(Module):
    name = "avpops"
    params = {
        "db_url": Param(str, None, multi=True),
        "avp_table": Param(str, "usr_preferences"),
        "use_domain": Param(int, 0),
        "uuid_column": Param(str, "uuid"),
        "username_column": Param(str, "username"),
        "domain_column": Param(str, "domain"),
        "attribute_column": Param(str, "attribute"),
        "value_column": Param(str, "value"),
        "type_column": Param(str, "type"),
        "db_scheme": Param(str, None, multi=True),
        "buf_size": Param(int, 1024),
    }
    obsolete = {
        "avp_write": "avp_write() is not an OpenSIPS 1.6 function (avpops dropped it in 1.2): "
                     "assign instead, e.g. $avp(s:name) = \"value\";",
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.urls: dict[int, str] = {}
        self.default_id: int | None = None
        self.databases: dict[int, Any] = {}
        self.schemes: dict[str, Scheme] = {}
        self.used_ids: set[int] = set()
        self.db_used = False
        self._parsed = False

    # -- parameters --------------------------------------------------------------------
    def _parse_params(self) -> None:
        if self._parsed:
            return
        self._parsed = True
        for text in self.db_url:
            match = re.match(r"\s*([0-9]+)", text)
            idx = int(match.group(1)) if match else 0
            url = text[match.end():].strip() if match else text.strip()
            if idx in self.urls:
                raise ConfigError(f"avpops: db_url idx {idx} overwritten (multiple definitions)")
            self.urls[idx] = url
            if self.default_id is None:
                self.default_id = idx
        if 0 in self.urls:
            self.default_id = 0
        for text in self.db_scheme:
            scheme = parse_db_scheme(text)
            if scheme.name.lower() in self.schemes:
                raise ConfigError(f"avpops: duplicated scheme name <{scheme.name}>")
            self.schemes[scheme.name.lower()] = scheme

    def scheme(self, name: str) -> Scheme | None:
        self._parse_params()
        return self.schemes.get(name.lower())

    def on_bind(self, function: str, values: tuple[Any, ...]) -> None:
        if function in DB_FUNCTIONS:
            self.db_used = True
            if len(values) > 2 and isinstance(values[-1], int):
                self.used_ids.add(values[-1])

    def init(self) -> None:
        self._parse_params()
        if self.db_used and self.default_id is None:
            raise ConfigError("avpops: no db url defined to be used by the avp_db_* functions")
        for idx in sorted(self.used_ids):
            if idx not in self.urls:
                raise ConfigError(f"avpops: no db_url with id <{idx}>")
        if self.db_used:
            for idx, url in self.urls.items():
                self.databases[idx] = store.open_database(self.core, url, "avpops")

    def database(self, db_id: int | None) -> Any:
        idx = self.default_id if db_id is None else db_id
        return self.databases.get(idx)  # type: ignore[arg-type]

    # -- helpers -------------------------------------------------------------------------
    def _keys(self, source: Source, ctx: Any, fname: str) -> dict[str, str] | None:
        """The where-clause values (uuid | username, domain) of a source; None: error."""
        if source.pv is not None:
            value = source.pv.get(ctx)
            if value is None or value == "":
                log.error("%s: no value for first param (%s)", fname, source.text)
                return None
            text = str(value)
        else:
            text = source.const or ""
        if source.mode == "uuid":
            return {"uuid": text}
        try:
            uri = parse_uri(text)
        except ParseError:
            log.error("%s: failed to parse uri %r", fname, text)
            return None
        if not uri.user or not uri.host:
            log.error("%s: incomplete uri <%s>", fname, text)
            return None
        keys: dict[str, str] = {}
        if source.mode in ("uri", "username"):
            keys["username"] = uri.user
        if source.mode in ("uri", "domain"):
            keys["domain"] = uri.host
        return keys

    def _where(self, keys: dict[str, str], scheme: Scheme | None, domain_wanted: bool) -> dict[str, Any]:
        where: dict[str, Any] = {}
        if "uuid" in keys:
            where[(scheme and scheme.uuid_col) or self.uuid_column] = keys["uuid"]
            return where
        if "username" in keys:
            where[(scheme and scheme.username_col) or self.username_column] = keys["username"]
        if "domain" in keys and domain_wanted:
            where[(scheme and scheme.domain_col) or self.domain_column] = keys["domain"]
        return where

    def _name_key(self, name: DbName, ctx: Any, fname: str) -> tuple[bool, Key | None]:
        """(ok, key): the AVP key of a named DbName (None for a|s|i)."""
        if name.avp is None:
            return True, None
        key = name.avp.resolve(ctx)
        if key is None:
            log.error("%s: no value for the AVP name (%s)", fname, name.avp.text)
            return False, None
        return True, key

    @staticmethod
    def _type_ok(match: str, name_int: bool) -> bool:
        return match == "a" or (match == "i") == name_int

    # -- database functions ------------------------------------------------------------
    @function("avp_db_load", "any", "any", "any", optional=1, routes=ROUTES, fixup=_db_fixup(True))
    def avp_db_load(self, ctx: Any, source: Source, name: DbName, db_id: int | None = None) -> int:
        db = self.database(db_id)
        keys = self._keys(source, ctx, "avp_db_load")
        ok, key = self._name_key(name, ctx, "avp_db_load")
        if db is None or keys is None or not ok:
            return -1
        scheme = name.scheme
        domain_wanted = bool(self.use_domain) or source.mode == "domain"
        where = self._where(keys, scheme, domain_wanted)
        if key is not None and scheme is None:
            where[self.attribute_column] = str(key[1])
        table = (scheme.table if scheme is not None else None) or name.table or self.avp_table
        if scheme is not None:
            columns = [scheme.value_col or self.value_column]
        else:
            columns = [self.value_column, self.attribute_column, self.type_column]
        try:
            rows = store.select(db, table, columns, where)
        except store.StoreError as exc:
            log.error("avp_db_load: db_load failed: %s", exc)
            return -1
        loaded: list[tuple[Key, Any]] = []
        for row in rows:
            item = self._row_to_avp(row, columns, key, name.match, scheme)
            if item is not None:
                ctx.avps.add(item[0], item[1])
                loaded.append(item)
        _mark_in_db(ctx.avps, loaded)
        log.debug("avp_db_load: loaded avps = %d", len(loaded))
        return 1 if loaded else -1

    def _row_to_avp(self, row: dict[str, Any], columns: list[str], key: Key | None, match: str,
                    scheme: Scheme | None) -> tuple[Key, Any] | None:
        value = row[columns[0]]
        if scheme is None:
            attribute, db_type = row[columns[1]], row[columns[2]]
            if value is None or attribute is None or db_type is None:
                log.error("avp_db_load: db row contains NULL fields")
                return None
            try:
                db_type = int(db_type)
            except (TypeError, ValueError):
                log.error("avp_db_load: wrong field types in db row")
                return None
            name_int = bool(db_type & DB_NAME_INT)
            value_int = bool(db_type & DB_VAL_INT)
            if not self._type_ok(match if key is None else key[0], name_int):
                return None
            if key is None:
                attr = store.text(attribute)
                if name_int:
                    number = _uint(attr)
                    if number is None:
                        log.error("avp_db_load: name is not ID as flags say <%s>", attr)
                        return None
                    key = ("i", number)
                else:
                    key = ("s", attr)
        else:
            if value is None:
                log.error("avp_db_load: empty or wrong type for 'value' using scheme")
                return None
            value_int = scheme.value_int
            assert key is not None
        if isinstance(value, bool):
            value = int(value)
        if value_int:
            if isinstance(value, int):
                return key, _i32(value)
            number = _uint(store.text(value))
            if number is None:
                log.error("avp_db_load: value is not int as flags say <%s>", store.text(value))
                return None
            return key, _i32(number)
        if isinstance(value, int):
            return key, str(value & 0xFFFFFFFF)  # 1.6: int2str of an unsigned long
        return key, store.text(value)

    @function("avp_db_store", "any", "any", "any", optional=1, routes=ROUTES, fixup=_db_fixup(False))
    def avp_db_store(self, ctx: Any, source: Source, name: DbName, db_id: int | None = None) -> int:
        db = self.database(db_id)
        keys = self._keys(source, ctx, "avp_db_store")
        ok, key = self._name_key(name, ctx, "avp_db_store")
        if db is None or keys is None or not ok:
            return -1
        domain_wanted = bool(self.use_domain) or source.mode == "domain"
        base = {
            self.uuid_column: keys.get("uuid", ""),
            self.username_column: keys.get("username", ""),
            self.domain_column: keys.get("domain", "") if domain_wanted else "",
        }
        table = name.table or self.avp_table
        avps = ctx.avps
        if key is not None:
            names = [key]
        else:
            names = [k for k in avps.keys() if _is_avp_key(k) and self._type_ok(name.match, k[0] == "i")]
        in_db = _in_db(avps)
        stored: list[tuple[Key, Any]] = []
        for avp in names:
            for value in avps.get_all(avp):
                if in_db[(avp, value)] > 0:
                    in_db[(avp, value)] -= 1  # this one came from the database
                    continue
                if value is None:
                    continue
                db_type = (DB_NAME_INT if avp[0] == "i" else 0) | (DB_VAL_INT if isinstance(value, int) else 0)
                row = dict(base)
                row[self.attribute_column] = str(avp[1])
                row[self.value_column] = str(value)
                row[self.type_column] = db_type
                try:
                    db.insert(table, row)
                except Exception as exc:  # noqa: BLE001 - DBError or the backend's own
                    log.error("avp_db_store: insert into %s failed: %s", table, exc)
                    continue
                stored.append((avp, value))
        _mark_in_db(avps, stored)
        log.debug("avp_db_store: %d avps were stored", len(stored))
        return 1 if stored else -1

    @function("avp_db_delete", "any", "any", "any", optional=1, routes=ROUTES, fixup=_db_fixup(False))
    def avp_db_delete(self, ctx: Any, source: Source, name: DbName, db_id: int | None = None) -> int:
        db = self.database(db_id)
        keys = self._keys(source, ctx, "avp_db_delete")
        ok, key = self._name_key(name, ctx, "avp_db_delete")
        if db is None or keys is None or not ok:
            return -1
        where = self._where(keys, None, bool(self.use_domain) or source.mode == "domain")
        if key is not None:
            where[self.attribute_column] = str(key[1])
        table = name.table or self.avp_table
        try:
            db.delete(table, where)
        except Exception as exc:  # noqa: BLE001 - DBError or the backend's own
            log.error("avp_db_delete: db_delete on %s failed: %s", table, exc)
            return -1
        return 1

    @function("avp_db_query", "any", "any", "any", optional=2, routes=ROUTES, fixup=_query_fixup)
    def avp_db_query(self, ctx: Any, query: Any, dest: tuple[AvpName, ...] | None = None,
                     db_id: int | None = None) -> int:
        db = self.database(db_id)
        if db is None:
            return -1
        sql = query.render(ctx)
        if not sql or len(sql) > self.buf_size - 1:
            log.error("avp_db_query: cannot print the query (empty or longer than buf_size)")
            return -1
        try:
            rows = store.query(db, sql)
        except store.StoreError as exc:
            log.error("avp_db_query: raw_query failed: %s [%.40s...]", exc, sql)
            return -1
        for row in reversed(rows):  # the first row ends up on top
            for column, value in enumerate(row):
                if dest is not None:
                    if column >= len(dest):
                        break
                    avp_name = dest[column].resolve(ctx)
                    if avp_name is None:
                        log.error("avp_db_query: cannot get avp name [%s]", dest[column].text)
                        continue
                else:
                    avp_name = ("i", column + 1)
                converted = self._column_value(value)
                if converted is not None:
                    ctx.avps.add(avp_name, converted)
        return 1

    @staticmethod
    def _column_value(value: Any) -> int | str | None:
        """A result column as an AVP value (None: skipped, as 1.6 skips NULL, empty
        strings and column types it has no AVP type for, e.g. DOUBLE)."""
        if value is None or isinstance(value, float):
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return _i32(value)
        if isinstance(value, Decimal):
            return _i32(int(value)) if value == value.to_integral_value() else None
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("utf-8", "replace")
        text = str(value)
        return text or None

    # -- AVPs in memory ---------------------------------------------------------------------
    @function("avp_delete", "any", routes=ROUTES, fixup=_delete_fixup)
    def avp_delete(self, ctx: Any, name: AvpName | None, match: str, everything: bool) -> int:
        avps = ctx.avps
        count = 0
        if name is not None:
            key = name.resolve(ctx)
            if key is None:
                log.error("avp_delete: failed to get the AVP name (%s)", name.text)
                return -1
            values = avps.get_all(key)
            if values:
                count = len(values) if everything else 1
                avps.delete(key, None if everything else 0)
                if everything:
                    self._forget(avps, {key})
        else:
            gone = set()
            for key in avps.keys():
                if _is_avp_key(key) and self._type_ok(match, key[0] == "i"):
                    count += len(avps.get_all(key))
                    avps.delete(key, None)
                    gone.add(key)
            self._forget(avps, gone)
        return 1 if count else -1

    @staticmethod
    def _forget(avps: Any, keys: set[Key]) -> None:
        counter = _in_db(avps)
        if counter and any(k in keys for k, _ in counter):
            _save_in_db(avps, Counter({item: n for item, n in counter.items() if item[0] not in keys}))

    @function("avp_copy", "any", "any", routes=ROUTES, fixup=_copy_fixup)
    def avp_copy(self, ctx: Any, source: AvpName, dest: AvpName, options: frozenset) -> int:
        src_key, dst_key = source.resolve(ctx), dest.resolve(ctx)
        if src_key is None or dst_key is None:
            log.error("avp_copy: failed to get the AVP names")
            return -1
        avps = ctx.avps
        values = avps.get_all(src_key)
        if not values:
            return -1
        chosen = values if "g" in options else values[:1]
        copies = []
        for value in chosen:
            if isinstance(value, str) and "n" in options:
                number = _uint(value)
                if number is None:
                    log.error("avp_copy: cannot convert str to int")
                    return -1
                value = _i32(number)
            elif isinstance(value, int) and "s" in options:
                value = str(value)
            copies.append(value)
        if "d" in options:
            _set_all(avps, src_key, values[len(chosen):])
        for value in copies:
            avps.add(dst_key, value)
        return 1

    def _pv_values(self, ctx: Any, pv: Any, avp: AvpName | None, every: bool) -> list[Any] | None:
        """Values of an AVP (newest first; just the first unless ``every``) or of a PV."""
        if avp is not None:
            key = avp.resolve(ctx)
            if key is None:
                return None
            values = ctx.avps.get_all(key)
            return values if every else values[:1]
        value = pv.get(ctx)
        return [value]

    @function("avp_pushto", "any", "any", routes=ROUTES, fixup=_pushto_fixup)
    def avp_pushto(self, ctx: Any, dest: str, avp: AvpName | None, pv: Any, every: bool) -> int:
        values = self._pv_values(ctx, pv, avp, every)
        if not values:
            log.debug("avp_pushto: no src avp found")
            return -1
        for n, value in enumerate(values):
            if value is None:
                return -1
            try:
                if dest.startswith("ru"):
                    text = str(value)
                    if n:
                        if len(ctx.branches) + 1 >= MAX_BRANCHES:
                            log.error("avp_pushto: append_branch action failed (too many branches)")
                            return -1
                        ctx.branches.append(Branch(ctx.ruri))
                    if dest == "ru":
                        new = text
                    elif dest == "ru/username":
                        new = str(ctx.parsed_ruri().replace(user=text or None))
                    else:
                        new = str(ctx.parsed_ruri().replace(host=text))
                    parse_uri(new)
                    ctx.new_uri = new
                elif not isinstance(value, str):
                    return -1
                elif dest == "du":
                    parse_uri(value)
                    ctx.dst_uri = value
                else:
                    parse_uri(value)
                    if len(ctx.branches) + 1 >= MAX_BRANCHES:
                        log.error("avp_pushto: append_branch action failed (too many branches)")
                        return -1
                    ctx.branches.append(Branch(value, socket=ctx.force_socket))
            except (ParseError, OpensipsgError, ValueError) as exc:
                log.error("avp_pushto: cannot push %r into $%s: %s", value, dest, exc)
                return -1
        return 1

    @function("avp_check", "any", "any", routes=ROUTES, fixup=_check_fixup)
    def avp_check(self, ctx: Any, pv: Any, avp: AvpName | None, check: CheckValue) -> int:
        values = self._pv_values(ctx, pv, avp, check.all_values)
        if not values:
            log.debug("avp_check: no src avp found")
            return -1
        if check.pv is not None or check.avp is not None:
            against = self._pv_values(ctx, check.pv, check.avp, True)
            if not against:
                log.debug("avp_check: no dst avp found")
                return -1
        else:
            against = [check.const]
        for value in values:
            value = "<null>" if value is None else value
            for other in against:
                other = "<null>" if other is None else other
                if isinstance(value, int) != isinstance(other, int):
                    log.error("avp_check: value types don't match")
                    continue
                if self._check_one(check, value, other):
                    return 1
        return -1

    @staticmethod
    def _check_one(check: CheckValue, value: Any, other: Any) -> bool:
        op = check.op
        if isinstance(value, int):
            if op == "eq":
                return value == other
            if op == "ne":
                return value != other
            if op == "lt":
                return value < other
            if op == "le":
                return value <= other
            if op == "gt":
                return value > other
            if op == "ge":
                return value >= other
            if op == "and":
                return bool(value & other)
            if op == "or":
                return bool(value | other)
            if op == "xor":
                return bool(value ^ other)
            log.critical("avp_check: unknown operation %s for integers", op)
            return False
        if op in ("eq", "ne"):
            same = value.lower() == other.lower() if check.icase else value == other
            return same if op == "eq" else not same
        if op in ("lt", "le", "gt", "ge"):
            a, b = value.lower(), other.lower()
            return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        if op == "re":
            return check.regex.search(value) is not None
        if op == "fm":
            if check.icase:
                return fnmatch.fnmatchcase(value.lower(), other.lower())
            return fnmatch.fnmatchcase(value, other)
        log.critical("avp_check: unknown operation %s for strings", op)
        return False

    @function("avp_op", "any", "any", routes=ROUTES, fixup=_op_fixup)
    def avp_op(self, ctx: Any, source: AvpName, dest: AvpName | None, value: CheckValue) -> int:
        src_key = source.resolve(ctx)
        dst_key = dest.resolve(ctx) if dest is not None else src_key
        if src_key is None or dst_key is None:
            log.error("avp_op: failed to get the AVP names")
            return -1
        avps = ctx.avps
        values = avps.get_all(src_key)
        if not values:
            log.debug("avp_op: no src avp found")
            return -1
        operands = [v for v in values if isinstance(v, int)]
        if not operands and value.op != "not":
            log.debug("avp_op: no proper avp found")
            return -1
        if value.avp is not None:
            key = value.avp.resolve(ctx)
            others = [v for v in avps.get_all(key) if isinstance(v, int)] if key is not None else []
            if not others:
                log.debug("avp_op: no dst avp found")
                return -1
        elif value.pv is not None:
            other = value.pv.get(ctx)
            if not isinstance(other, int):
                log.error("avp_op: dst value is str")
                return -1
            others = [other]
        else:
            others = [value.const]
        results = []
        for a in operands or [0]:
            for b in others:
                results.append(self._operate(value.op, a, b))
        if value.delete and operands:
            _set_all(avps, src_key, [v for v in values if not isinstance(v, int)])
        for result in results:
            avps.add(dst_key, result)
        return 1

    @staticmethod
    def _operate(op: str, a: int, b: int) -> int:
        if op == "add":
            return _i32(a + b)
        if op == "sub":
            return _i32(a - b)
        if op == "mul":
            return _i32(a * b)
        if op in ("div", "mod"):
            if b == 0:
                log.error("avp_op: %s by 0", "division" if op == "div" else "modulo")
                return 0
            quotient = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # C truncation
            return _i32(quotient) if op == "div" else _i32(a - b * quotient)
        if op == "and":
            return _i32(a & b)
        if op == "or":
            return _i32(a | b)
        if op == "xor":
            return _i32(a ^ b)
        return _i32(~b)  # not

    @function("avp_subst", "any", "any", routes=ROUTES, fixup=_subst_fixup)
    def avp_subst(self, ctx: Any, source: AvpName, dest: AvpName | None, options: frozenset,
                  expr: Any, replacement: Replacement) -> int:
        src_key = source.resolve(ctx)
        dst_key = dest.resolve(ctx) if dest is not None else src_key
        if src_key is None or dst_key is None:
            log.error("avp_subst: failed to get the AVP names")
            return -1
        avps = ctx.avps
        values = avps.get_all(src_key)
        if not values:
            return -1
        remove = "d" in options or dest is None
        results = []
        kept = []
        done = False
        for value in values:
            if done or not isinstance(value, str):
                kept.append(value)
                continue
            count = 0 if expr.global_ else 1
            new, matches = expr.regex.subn(lambda m: replacement.expand(ctx, m), value, count=count)
            if not matches:
                kept.append(value)
                continue
            results.append(new)
            if not remove:
                kept.append(value)
            if "g" not in options:
                done = True
        if not results:
            return -1
        if remove:
            _set_all(avps, src_key, kept)
        for result in results:
            avps.add(dst_key, result)
        return 1

    @function("avp_insert", "any", "any", "any", routes=ROUTES, fixup=_insert_fixup)
    def avp_insert(self, ctx: Any, name: AvpName, value: Any, index: int) -> int:
        key = name.resolve(ctx)
        if key is None:
            log.error("avp_insert: failed to get the AVP name")
            return -1
        if hasattr(value, "render"):
            item: Any = value.render(ctx)
        else:
            item = value.get(ctx)
            if item is None:
                log.error("avp_insert: cannot get src value")
                return -1
        values = ctx.avps.get_all(key)
        values.insert(min(index, len(values)), item)
        _set_all(ctx.avps, key, values)
        return 1

    @function("is_avp_set", "any", routes=ROUTES, fixup=_is_set_fixup)
    def is_avp_set(self, ctx: Any, name: AvpName, options: frozenset) -> int:
        key = name.resolve(ctx)
        if key is None:
            log.error("is_avp_set: failed to get AVP name")
            return -1
        values = ctx.avps.get_all(key)
        index = name.index_of(ctx)
        position = index if isinstance(index, int) and index > 0 else 0
        if position >= len(values):
            return -1
        if not options:
            return 1
        value = values[position]
        if ("s" in options and not isinstance(value, str)) or ("n" in options and isinstance(value, str)):
            return -1
        if "e" in options:
            return 1 if value in ("", 0, None) else -1
        return 1

    @function("avp_print", routes=ROUTES)
    def avp_print(self, ctx: Any) -> int:
        avps = ctx.avps
        for key in avps.keys():
            if not _is_avp_key(key):
                continue
            for value in avps.get_all(key):
                name = f"name=<{key[1]}>" if key[0] == "s" else f"id=<{key[1]}>"
                if isinstance(value, str):
                    log.info("avp %s val_str=<%s / %d>", name, value, len(value))
                else:
                    log.info("avp %s val_int=<%s>", name, value)
        return 1
