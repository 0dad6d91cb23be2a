"""registrar -- SIP registrar (OpenSIPS 1.6; RFC 3261 10.3).

Overview
    save() processes a REGISTER: adds, refreshes and removes the bindings
    of the AOR (the To URI, or an AOR given as a PV) in a usrloc table and
    answers with 200 OK listing every valid binding in one Contact header:
    ``<uri>[;q=Q];expires=REMAINING[;received="URI"]``. lookup() turns the
    R-URI into the registered contacts; registered() tells whether an AOR
    has bindings.

    Expires values below min_expires are raised to min_expires and values
    above max_expires lowered to it, as 1.6 does (RFC 3261 10.3 step 7
    would answer 423 Interval Too Brief instead; 1.6 never does). A bad
    expires value means default_expires. The same Call-ID with an older
    CSeq is refused (400 Invalid CSeq number); the same CSeq within
    usrloc's cseq_delay is a retransmission and leaves the binding alone.

    On failure save() sends the error reply itself (with a
    ``P-Registrar-Error`` header saying why) and returns 0, which ends the
    script; ``if (!save("location")) sl_reply_error();`` therefore never
    calls sl_reply_error(), exactly as in 1.6.

    Sockets are kept as text ``proto:host:port``; lookup() puts the stored
    one in ``ctx.force_socket`` for the core to resolve.

Dependencies
    usrloc.

Parameters
    default_expires (int, 3600), min_expires (int, 60), max_expires (int, 0
    = no limit), default_q (int, -1 = unspecified; q*1000),
    case_sensitive (int, 1), tcp_persistent_flag (int, -1; not acted on
    yet), realm_prefix (str), received_avp (str, e.g. "$avp(i:42)"),
    received_param (str, "received"), max_contacts (int, 0 = no limit),
    retry_after (int, 0), sock_hdr_name (str).

Functions
    save("table"[, "flags"[, $aor_pv]])  [request]
        1 on success (reply sent unless flag r), 0 after an error reply
        (400, 420, 500, 503 Too many registered contacts). Flags:
        m memory only, r no reply, s socket from the sock_hdr_name header,
        cNN max contacts, f force (evict the oldest contacts instead of
        503), p0/p1/p2 Path off/lazy/strict, v received from the first
        Path URI's received param.
    lookup("table"[, "flags"[, $aor_pv]])  [request, failure]
        1 found, -1 not found, -2 found but no contact allows the method
        (flag m), -3 error. The highest-q contact becomes the R-URI (with
        its q, branch flags, socket, and $du from its Path or received
        address); the others become branches unless flag b.
    registered("table"[, "aor"[, "callid"]])  [request, failure, onreply,
        branch, local] -- 1 if the AOR (default: the R-URI) has a valid
        binding (with that Call-ID), -1 if not.
    add_sock_hdr("Hdr-Name")  [request] -- adds ``Hdr-Name: proto:ip:port``
        naming the socket the request came in on.

Statistics
    registrar:max_expires, registrar:max_contacts, registrar:default_expire,
    registrar:accepted_regs, registrar:rejected_regs.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from ..errors import DBError, ParseError
from ..registry import B, F, L, O, R, Module, Param, function, register_module
from ..script.context import Branch
from ..sip.nameaddr import NameAddr, parse_name_addr, unquote_string
from ..sip.uri import parse_uri, unescape
from .usrloc import (
    FL_MEM,
    FL_NONE,
    FOUND,
    INVALID_CSEQ,
    NOT_FOUND,
    RETRANSMISSION,
    Contact,
    ContactInfo,
    Location,
    UsrlocModule,
)

log = logging.getLogger(__name__)

PATH_OFF = 0
PATH_LAZY = 1
PATH_STRICT = 2

MAX_BRANCHES = 12


class RegistrarError(Exception):
    """A save() failure: the reply code and the P-Registrar-Error text."""

    def __init__(self, status: int, info: str, headers: tuple[str, ...] = ()) -> None:
        super().__init__(info)
        self.status = status
        self.info = info
        self.headers = headers


REASONS = {200: "OK", 400: "Bad Request", 420: "Bad Extension", 500: "Server Internal Error",
           503: "Service Unavailable"}


@dataclass(frozen=True)
class SaveFlags:
    memory_only: bool = False
    no_reply: bool = False
    socket_header: bool = False
    max_contacts: int | None = None
    force: bool = False
    path_mode: int | None = None  # None: Path not used
    path_received: bool = False


def parse_save_flags(text: str) -> SaveFlags:
    """'mrsc5fp2v' -> SaveFlags; ValueError on an unknown flag."""
    values: dict[str, Any] = {}
    i = 0
    while i < len(text):
        ch = text[i].lower()
        i += 1
        if ch == "m":
            values["memory_only"] = True
        elif ch == "r":
            values["no_reply"] = True
        elif ch == "s":
            values["socket_header"] = True
        elif ch == "f":
            values["force"] = True
        elif ch == "v":
            values["path_received"] = True
        elif ch == "c":
            start = i
            while i < len(text) and text[i].isdigit():
                i += 1
            if start == i:
                raise ValueError("flag c needs a number")
            values["max_contacts"] = int(text[start:i])
        elif ch == "p":
            if i < len(text) and text[i] in "012":
                values["path_mode"] = int(text[i])
                i += 1
            else:
                values["path_mode"] = PATH_OFF
        elif ch in " \t":
            continue
        else:
            raise ValueError(f"unknown save() flag {ch!r}")
    return SaveFlags(**values)


def parse_q(text: str) -> int:
    """RFC 3261 qvalue -> q*1000; ValueError when malformed."""
    text = text.strip()
    match = re.fullmatch(r"(0(?:\.(\d{0,3}))?|1(?:\.(0{0,3}))?)", text)
    if not match:
        raise ValueError(f"bad q value {text!r}")
    if text.startswith("1"):
        return 1000
    digits = (match.group(2) or "").ljust(3, "0")
    return int(digits)


def _contact_params(params: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(expires, q, received, methods) of a Contact in one pass over its parameters,
    as find_param() gives each: the first one, '' when value-less, None when absent."""
    found: dict[str, str] = {}
    for name, value in params:  # (usually none: the loop beats four find_param calls)
        key = name.lower()
        if key in _CONTACT_PARAMS and key not in found:
            found[key] = "" if value is None else value
    if not found:
        return None, None, None, None
    get = found.get
    return get("expires"), get("q"), get("received"), get("methods")


_CONTACT_PARAMS = frozenset(("expires", "q", "received", "methods"))


def q_text(q: int) -> str:
    """q*1000 -> the shortest qvalue text (500 -> '0.5', 1000 -> '1')."""
    if q >= 1000:
        return "1"
    if q <= 0:
        return "0"
    return "0." + f"{q:03d}".rstrip("0")


def parse_avp_spec(spec: str) -> tuple[str, Any] | None:
    """'$avp(i:42)' / '$avp(s:name)' / 'i:42' -> AVP key; None when empty."""
    spec = spec.strip()
    if not spec:
        return None
    match = re.fullmatch(r"\$avp\((.*)\)", spec)
    if match:
        spec = match.group(1)
    kind, sep, name = spec.partition(":")
    if not sep:
        return ("s", spec)
    if kind.lower() == "i":
        return ("i", int(name))
    return ("s", name)


@register_module
class RegistrarModule(Module):
    name = "registrar"
    depends = ("usrloc",)
    params = {
        "default_expires": Param(int, 3600),
        "min_expires": Param(int, 60),
        "max_expires": Param(int, 0),
        "default_q": Param(int, -1),
        "case_sensitive": Param(int, 1),
        "tcp_persistent_flag": Param(int, -1),
        "realm_prefix": Param(str, ""),
        "received_avp": Param(str, ""),
        "received_param": Param(str, "received"),
        "max_contacts": Param(int, 0),
        "retry_after": Param(int, 0),
        "sock_hdr_name": Param(str, ""),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.usrloc: UsrlocModule | None = None
        self._received_key: tuple[str, Any] | None = None
        # save() flags of the script's calls, parsed once when the script is bound
        self._save_flags: dict[str, SaveFlags] = {}

    # -- set-up ---------------------------------------------------------------
    def init(self) -> None:
        if self.default_expires < 0 or self.min_expires < 0 or self.max_expires < 0:
            raise ValueError("registrar: expires parameters must not be negative")
        if self.default_q != -1 and not 0 <= self.default_q <= 1000:
            raise ValueError("registrar: default_q must be 0..1000")
        self._received_key = parse_avp_spec(self.received_avp)
        self.usrloc = self._find_usrloc()
        stats = self.core.stats
        stats.register("registrar:max_expires", lambda: self.max_expires)
        stats.register("registrar:max_contacts", lambda: self.max_contacts)
        stats.register("registrar:default_expire", lambda: self.default_expires)
        stats.register("registrar:accepted_regs")
        stats.register("registrar:rejected_regs")

    def _find_usrloc(self) -> UsrlocModule:
        """The loaded usrloc instance: ``core.module("usrloc")`` or ``core.modules["usrloc"]``."""
        finder = getattr(self.core, "module", None)
        found = finder("usrloc") if callable(finder) else None
        if found is None:
            found = (getattr(self.core, "modules", None) or {}).get("usrloc")
        if found is None:
            raise ValueError("registrar: module usrloc is not loaded")
        return found

    def on_bind(self, function: str, values: tuple[Any, ...]) -> None:
        # the tables the script names exist from start-up on (MI ul_* can see them)
        if function in ("save", "lookup", "registered") and values and isinstance(values[0], str):
            self._table(values[0])
        if function == "save":
            text = values[1] if len(values) > 1 else ""
            try:
                self._save_flags[text] = parse_save_flags(text)
            except ValueError:
                pass  # save() logs it and fails each time, as 1.6 does

    def _table(self, name: str) -> Location:
        if self.usrloc is None:
            self.usrloc = self._find_usrloc()
        return self.usrloc.register_domain(name)

    # -- AOR ----------------------------------------------------------------
    def extract_aor(self, uri_text: str) -> str:
        """AOR as usrloc keys it: user[@domain], unescaped, lower-cased as configured."""
        try:
            uri = parse_uri(uri_text)
        except ParseError:
            raise RegistrarError(400, "Error while parsing AOR") from None
        user = uri.user or ""
        if "%" in user:  # (unescape()'s own test, without the call)
            user = unescape(user)
        use_domain = bool(self.usrloc.use_domain) if self.usrloc is not None else False
        if not self.case_sensitive:
            user = user.lower()
        if not use_domain:
            return user
        host = uri.host
        prefix = self.realm_prefix
        if prefix and len(prefix) < len(host) and host.startswith(prefix):
            host = host[len(prefix) :]
        host = host.lower()
        return f"{user}@{host}" if user else host

    # -- expires / q ----------------------------------------------------------
    def _expires(self, msg: Any, now: int, param: str | None = None) -> int:
        """Absolute expiry of a contact, within min/max_expires (0 = remove): its expires
        parameter ``param`` when it has a value, else the Expires header's (default_expires
        when absent or bad)."""
        if param:
            text = param.strip()
            value = int(text) if text.isdigit() and len(text) <= 10 else self.default_expires
            if value == 0:
                return 0
        else:
            try:
                value = msg.int_header("expires")
            except ParseError:
                value = None
            if value is None:
                value = self.default_expires
            elif value == 0:
                return 0
        if value < self.min_expires:
            value = self.min_expires
        if self.max_expires and value > self.max_expires:
            value = self.max_expires
        return now + value

    def _contact_q(self, param: str | None) -> int:
        if param is None or param == "":
            return self.default_q
        try:
            return parse_q(param)
        except ValueError:
            raise RegistrarError(400, "Invalid q param in contact") from None

    # -- save ---------------------------------------------------------------
    @function("save", "str", "str", "pv", optional=2, routes=R)
    def save(self, ctx: Any, table: str, flags_text: str = "", aor_pv: Any = None) -> int:
        flags = self._save_flags.get(flags_text)
        if flags is None:
            try:
                flags = parse_save_flags(flags_text or "")
            except ValueError as exc:
                log.error("save: %s", exc)
                return -1
        usrloc = self.usrloc
        # the table straight from usrloc's domains (public): _table() adds two calls
        location = usrloc.domains.get(table) if usrloc is not None else None
        if location is None:
            location = self._table(table)
        counts = self.core.stats.counts  # (a defaultdict: no inc() call)
        extra_headers: list[str] = []
        aor = ""
        now = int(time.time())
        try:
            # the AOR and its bindings before the Contact check: a Contact URI that save() parsed
            # for this AOR before is not parsed again (a refresh; parse_uri's cache misses when
            # many users cycle); the AOR's error still comes after the contacts', as in 1.6
            aor_error = None
            try:
                aor_text = None
                if aor_pv is not None:
                    value = aor_pv.get(ctx)
                    aor_text = value if isinstance(value, str) and value else None
                if aor_text is None:
                    try:
                        aor_text = ctx.msg.to.uri_text
                    except ParseError:
                        raise RegistrarError(400, "To header not found") from None
                # a refresh: the record that save() made from this very AOR text names the AOR
                # without parsing the URI again; its key is guessed (a user part, no domain), the
                # text must match
                record = guess = None
                at = aor_text.find("@")
                if at > 0 and usrloc is not None and not usrloc.use_domain:
                    guess = aor_text[aor_text.find(":") + 1 : at]
                    record = location.memory_record(guess)
                if record is not None and record.aor_uri == aor_text:
                    aor = record.aor
                else:
                    aor = self.extract_aor(aor_text)
                    if aor != guess:  # (else the guess's record is the AOR's: no second lookup)
                        record = location.memory_record(aor)
            except RegistrarError as exc:
                aor_error = exc
                record = None
            contacts, is_star, callid, cseq = self._request_contacts(ctx.msg, record)
            if aor_error is not None:
                raise aor_error
            if flags.path_mode is not None:
                # refuse (420) before touching the bindings
                path_vector = ",".join(ctx.msg.get_values("path")) or None
                extra_headers.extend(self._path_reply_headers(ctx.msg, flags, path_vector))
            try:
                if is_star:
                    location.delete_record(aor)
                elif contacts:
                    self._add_contacts(ctx, location, aor, contacts, flags, now, callid, cseq)
                record = location.get_record(aor)
                if record is not None:
                    record.aor_uri = aor_text  # (extract_aor(aor_text) is its AOR: see above)
            except DBError as exc:  # usrloc db_mode 1-3: the database failed
                log.error("save: usrloc failed for AOR <%s>: %s", aor, exc)
                raise RegistrarError(500, "usrloc database error") from None
        except RegistrarError as exc:
            counts["registrar:rejected_regs"] += 1
            if not flags.no_reply:
                self._send_error(ctx, exc)
            return 0
        counts["registrar:accepted_regs"] += 1
        if flags.no_reply:
            return 1
        contact_line = self._contact_header(record, now) if record is not None else None
        headers = [contact_line, *extra_headers] if contact_line else extra_headers
        # (own_lines: the Contact and Path lines are ours, not checked again)
        return 1 if self.core.send_reply(ctx, 200, "OK", headers, own_lines=True) > 0 else -1

    def _send_error(self, ctx: Any, exc: RegistrarError) -> None:
        headers = [*exc.headers, f"P-Registrar-Error: {exc.info}"]
        if 500 <= exc.status < 600 and self.retry_after:
            headers.append(f"Retry-After: {self.retry_after}")
        self.core.send_reply(ctx, exc.status, REASONS.get(exc.status, "Error"), headers)

    def _request_contacts(self, msg: Any, record: Any = None) -> tuple[list[NameAddr], bool, str, int]:
        """The Contact elements, checked as 1.6's check_contacts() does, and whether
        it is '*'; the Call-ID and CSeq number (checked here, kept for the bindings).
        A URI of one of ``record``'s bindings that save() parsed (uri_checked) is valid."""
        try:
            callid = msg.get("call-id")
            if not callid:  # (msg.call_id's test, without the property call)
                raise ParseError("missing Call-ID")
            cseq = msg.cseq.number
        except ParseError:
            raise RegistrarError(400, "Message parse error") from None
        has_star = False
        try:
            contacts = msg.contacts
            for contact in contacts:
                uri_text = contact.uri_text
                if uri_text == "*":  # (is_star, without the property call)
                    has_star = True
                    continue
                if record is not None:
                    for binding in record.contacts:
                        if binding.contact == uri_text and binding.uri_checked:
                            break
                    else:
                        parse_uri(uri_text)
                else:
                    parse_uri(uri_text)
        except ParseError:
            raise RegistrarError(400, "Contact parse error") from None
        if not has_star:
            return contacts, False, callid, cseq
        if len(contacts) > 1:
            raise RegistrarError(400, "* used in contact and more than 1 contact")
        now = int(time.time())
        if self._expires(msg, now) != 0:
            raise RegistrarError(400, "* used in contact and expires is not zero")
        return [], True, callid, cseq

    def _common_info(self, ctx: Any, flags: SaveFlags, now: int, callid: str, cseq: int) -> ContactInfo:
        msg = ctx.msg
        get = msg.get
        socket = None
        if flags.socket_header and self.sock_hdr_name:
            socket = self._socket_from_header(msg)
        if socket is None:
            listener = ctx.listener
            # the receiving listener's name is _receiving_socket()'s text, made once: no call
            # and f-string per REGISTER
            if listener is not None and listener.host == ctx.local_ip and listener.port == ctx.local_port \
                    and listener.proto == ctx.proto:
                socket = listener.name
            else:
                socket = self._receiving_socket(ctx)
        user_agent = (get("user-agent") or "").strip() or "n/a"
        cflags = ctx.bflags
        received = None
        path = None
        if flags.path_mode is not None:
            path, path_received = self._path_vector(msg, flags)
            if path_received:
                received = path_received
                if self.usrloc is not None:
                    cflags |= self.usrloc.nat_flag
        # positional: ContactInfo's field order (expires, q, callid, cseq, flags, cflags,
        # user_agent, received, path, socket, methods, last_modified); keywords cost more
        return ContactInfo(0, -1, callid.strip(), cseq, FL_MEM if flags.memory_only else FL_NONE, cflags,
                           user_agent, received, path, socket,
                           None if get("allow") is None else self._allow_methods(msg), now)

    @staticmethod
    def _allow_methods(msg: Any) -> frozenset[str]:
        return frozenset(v.strip().upper() for v in msg.get_values("allow") if v.strip())

    def _path_vector(self, msg: Any, flags: SaveFlags) -> tuple[str | None, str | None]:
        values = msg.get_values("path")
        if not values:
            return None, None
        received = None
        try:
            first = parse_name_addr(values[0])
            if flags.path_received:
                value = first.uri.param("received")
                if value:
                    received = unquote_string(unescape(value))
        except ParseError:
            raise RegistrarError(400, "Path parse error") from None
        return ",".join(values), received

    def _path_reply_headers(self, msg: Any, flags: SaveFlags, path: str | None) -> list[str]:
        if flags.path_mode is None or flags.path_mode == PATH_OFF or not path:
            return []
        supported = {v.strip().lower() for v in msg.get_values("supported")}
        if "path" in supported:
            return [f"Path: {path}"]
        if flags.path_mode == PATH_STRICT:
            raise RegistrarError(420, "No support for found Path indicated", ("Unsupported: path",))
        return []

    def _receiving_socket(self, ctx: Any) -> str:
        if ctx.local_ip:
            return f"{ctx.proto.lower()}:{ctx.local_ip}:{ctx.local_port}"
        host, port, transport = self.core.local_address(ctx)
        return f"{transport.lower()}:{host}:{port}"

    def _socket_from_header(self, msg: Any) -> str | None:
        value = (msg.get(self.sock_hdr_name) or "").strip()
        if not value:
            return None
        proto, sep, rest = value.partition(":")
        if not sep or proto.lower() not in ("udp", "tcp", "tls", "sctp"):
            proto, rest = "udp", value
        host, sep, port_text = rest.rpartition(":")
        if not sep or not port_text.isdigit():
            host, port_text = rest, "5060"
        if not self.core.is_myself(host, int(port_text)):
            log.error("save: non-local socket <%s>", value)
            return None
        return f"{proto.lower()}:{host}:{port_text}"

    def _add_contacts(
        self, ctx: Any, location: Location, aor: str, contacts: list[NameAddr], flags: SaveFlags, now: int,
        callid: str, cseq: int,
    ) -> None:
        msg = ctx.msg
        common = self._common_info(ctx, flags, now, callid, cseq)
        common_received, common_methods = common.received, common.methods
        record = location.get_record(aor)
        received_avp = None
        if self._received_key is not None:
            value = ctx.avps.get(self._received_key)
            received_avp = value if isinstance(value, str) and value else None

        # (uri, expires, q, code, existing, received, methods): what each contact becomes
        planned: list[tuple[str, int, int, int, Contact | None, str | None, frozenset[str] | None]] = []
        limit = flags.max_contacts if flags.max_contacts is not None else self.max_contacts
        # the valid bindings are counted only under a limit (a refresh without one skips it)
        count = len(record.valid_contacts(now)) if limit and record is not None else 0
        # the header's expiry, bounded once per REGISTER: a contact without parameters takes it
        header_expires = self._expires(msg, now)
        for contact in contacts:
            received, methods = common_received, common_methods  # the message's
            if contact.params:
                expires_param, q_param, received_param, methods_param = _contact_params(contact.params)
                expires = self._expires(msg, now, expires_param) if expires_param else header_expires
                q = self._contact_q(q_param)
                if received is None and received_param:
                    received = unquote_string(received_param)
                if methods_param:
                    methods = frozenset(
                        m.strip().upper() for m in unquote_string(methods_param).split(",") if m.strip()
                    )
            else:  # no parameters (the usual case): the header's expires, the default q
                expires = header_expires
                q = self.default_q
            if received is None:
                received = received_avp
            if record is not None:
                code, existing = location.get_contact(record, contact.uri_text, common.callid, common.cseq, now)
            else:
                code, existing = NOT_FOUND, None
            if code == INVALID_CSEQ:
                raise RegistrarError(400, "Invalid CSeq number")
            if code == RETRANSMISSION:
                continue
            if limit:
                if code == NOT_FOUND and expires:
                    count += 1
                elif code == FOUND and not expires and existing is not None and existing.is_valid(now):
                    count -= 1
            planned.append((contact.uri_text, expires, q, code, existing, received, methods))

        if limit and count > limit and not flags.force:
            log.info("registrar: too many contacts for AOR <%s>", aor)
            raise RegistrarError(503, "Too many registered contacts")

        for uri_text, expires, q, code, existing, received, methods in planned:
            found = code == FOUND and existing is not None
            if found:
                record = location.get_record(aor)
                if record is None:
                    continue
                if not expires:
                    location.delete_contact(record, existing)
                    continue
            elif not expires:
                continue
            # ``common`` completed for this contact, in place: usrloc copies what it keeps
            common.expires = expires
            common.q = q
            common.received = received
            common.methods = methods
            if found:
                location.update_contact(record, existing, common)
                continue
            # a contact listed twice in one REGISTER refreshes the first copy
            record = location.get_record(aor)
            if record is not None:
                code, again = location.get_contact(record, uri_text, common.callid, common.cseq + 1, now)
                if code == FOUND and again is not None:
                    location.update_contact(record, again, common)
                    continue
            # its URI was parsed (_request_contacts), now or for an earlier binding of the same text
            location.insert_contact(aor, uri_text, common).uri_checked = True

        if limit and flags.force:
            record = location.get_record(aor)
            if record is not None:
                valid = record.valid_contacts(now)
                for oldest in sorted(valid, key=lambda c: c.last_modified)[: max(0, len(valid) - limit)]:
                    location.delete_contact(record, oldest)

    def _contact_header(self, record: Any, now: int) -> str | None:
        parts = []
        for contact in record.contacts:
            expires = contact.expires
            if expires and expires <= now:  # not is_valid(now), inlined
                continue
            q = contact.q
            if q == -1:  # (the usual case: one f-string)
                text = f"<{contact.contact}>;expires={int(expires - now)}"
            else:
                text = f"<{contact.contact}>;q={q_text(q)};expires={int(expires - now)}"
            if contact.received:
                text += f';{self.received_param}="{contact.received}"'
            parts.append(text)
        if not parts:
            return None
        return "Contact: " + ", ".join(parts)

    # -- lookup -------------------------------------------------------------
    @function("lookup", "str", "str", "pv", optional=2, routes=R | F)
    def lookup(self, ctx: Any, table: str, flags_text: str = "", aor_pv: Any = None) -> int:
        flags_text = (flags_text or "").lower()
        method_filtering = "m" in flags_text
        no_branches = "b" in flags_text
        usrloc = self.usrloc  # (the table read from usrloc.domains, as save() does: no _table frames)
        location = usrloc.domains.get(table) if usrloc is not None else None
        if location is None:
            location = self._table(table)
        uri_text = None
        if aor_pv is not None:
            value = aor_pv.get(ctx)
            uri_text = value if isinstance(value, str) and value else None
        if uri_text is None:
            uri_text = ctx.ruri
        found, record = self._record(location, uri_text, "lookup")
        if not found:
            return -3
        if record is None:
            return -1
        now = int(time.time())
        method = ""
        request = ctx.request if ctx.request is not None else ctx.msg
        if method_filtering:
            method = request.method
        result = -1
        chosen: list[Contact] = []
        for contact in record.contacts:
            expires = contact.expires
            if expires and expires <= now:  # not is_valid(now), inlined
                continue
            result = -2
            if method_filtering and not contact.allows(method):
                continue
            chosen.append(contact)
        if not chosen:
            return result
        try:
            first = chosen[0]
            ctx.new_uri = first.contact
            dst = self._destination(first) if first.path else first.received or None  # (its frame only for a Path)
            if first.path:
                ctx.path = first.path
            if dst:
                ctx.dst_uri = dst
            ctx.q = first.q
            ctx.bflags |= first.cflags
            if first.socket:
                ctx.force_socket = first.socket
            if not no_branches:
                for contact in chosen[1:]:
                    if len(ctx.branches) >= MAX_BRANCHES - 1:
                        log.warning("lookup: too many branches for AOR <%s>", uri_text)
                        break
                    ctx.branches.append(
                        Branch(contact.contact, self._destination(contact), contact.path, contact.q,
                               contact.cflags, contact.socket)
                    )
        except ParseError as exc:
            log.error("lookup: bad stored Path: %s", exc.reason)
            return -3
        return 1

    @staticmethod
    def _destination(contact: Contact) -> str | None:
        """$du for a contact: the first Path URI, else the received address."""
        if contact.path:
            first = contact.path.split(",")[0]
            return parse_name_addr(first).uri_text
        return contact.received or None

    def _record(self, location: Location, uri_text: str, who: str) -> tuple[bool, Any]:
        """(looked up, record): looked up is False when the AOR could not be taken from
        the URI or usrloc failed (logged); record is None when there is none."""
        try:
            aor = self.extract_aor(uri_text)
        except RegistrarError:
            return False, None
        try:
            return True, location.get_record(aor)
        except DBError as exc:
            log.error("%s: usrloc failed for AOR <%s>: %s", who, aor, exc)
            return False, None

    # -- registered / add_sock_hdr ------------------------------------------
    @function("registered", "str", "fmt", "fmt", optional=2, routes=R | F | O | B | L)
    def registered(self, ctx: Any, table: str, aor: Any = None, callid: Any = None) -> int:
        location = self._table(table)
        uri_text = aor.render(ctx) if aor is not None else ctx.ruri
        _, record = self._record(location, uri_text, "registered")
        if record is None:
            return -1
        now = int(time.time())
        wanted = callid.render(ctx) if callid is not None else None
        for contact in record.contacts:
            if contact.is_valid(now) and (wanted is None or contact.callid == wanted):
                return 1
        return -1

    @function("add_sock_hdr", "str", routes=R)
    def add_sock_hdr(self, ctx: Any, name: str) -> int:
        ctx.msg.add_header(name, self._receiving_socket(ctx))
        return 1

