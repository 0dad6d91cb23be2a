"""Accounting records as OpenSIPS 1.6's acc module builds them (pure: no I/O, no clock).

A record is what 1.6 calls the "core" fields (method, from_tag, to_tag,
callid, sip_code, sip_reason, time) plus the extras and legs evaluated from
pseudo-variables. The three backends render it differently:

* syslog-style line (:func:`log_line`):
  ``ACC: transaction answered: timestamp=T;method=M;from_tag=F;to_tag=T;call_id=C;code=200;reason=OK;x=y``
* a database row (:func:`db_row`): 1.6's acc/missed_calls columns (names from
  the ``acc_*_column`` parameters) plus one column per extra;
* RADIUS attributes (:func:`aaa_attributes`), in 1.6's order:
  Acct-Status-Type, Service-Type, Sip-Response-Code, Sip-Method,
  Event-Timestamp, Sip-From-Tag, Sip-To-Tag, Acct-Session-Id, extras, legs.
"""
from __future__ import annotations

from dataclasses import dataclass
import re

# OpenSIPS 1.6's internal method bits (parser/msg_parser.h METHOD_*): what goes
# into Sip-Method, not an index and not the Columbia dictionary's values.
METHOD_BITS: dict[str, int] = {
    "INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "OPTIONS": 32,
    "UPDATE": 64, "REGISTER": 128, "MESSAGE": 256, "SUBSCRIBE": 512, "NOTIFY": 1024,
    "PRACK": 2048, "REFER": 4096, "PUBLISH": 8192,
}
METHOD_OTHER = 16384

# Acct-Status-Type values 1.6 uses
STATUS_START = 1
STATUS_STOP = 2
STATUS_ALIVE = 3  # Interim-Update
STATUS_FAILED = 15

SERVICE_SIP_SESSION = 15

# the text 1.6 puts in front of a log line (acc.h ACC_*)
ACC_ANSWERED = "ACC: transaction answered:"
ACC_MISSED = "ACC: call missed:"
ACC_REQUEST = "ACC: request accounted:"
ACC_ACKED = "ACC: request acknowledged:"

LOG_CORE_NAMES = ("method", "from_tag", "to_tag", "call_id", "code", "reason")

# 1.6 acc_*_column parameters and their defaults
DEFAULT_COLUMNS: dict[str, str] = {
    "acc_method_column": "method",
    "acc_from_tag_column": "from_tag",
    "acc_to_tag_column": "to_tag",
    "acc_callid_column": "callid",
    "acc_sip_code_column": "sip_code",
    "acc_sip_reason_column": "sip_reason",
    "acc_time_column": "time",
}


def sip_method_bit(method: str) -> int:
    """Sip-Method value of a method name (OTHER, 16384, for unknown methods)."""
    return METHOD_BITS.get(method.upper(), METHOD_OTHER)


@dataclass(frozen=True, slots=True)
class AccRecord:
    """One accounting record (see module docstring). ``extras`` and each leg are
    ``(name, value)`` pairs in declaration order; a value of None is NULL."""

    method: str
    from_tag: str
    to_tag: str
    call_id: str
    code: str
    reason: str
    timestamp: int
    extras: tuple[tuple[str, str | None], ...] = ()
    legs: tuple[tuple[tuple[str, str | None], ...], ...] = ()
    # whether the request carried a To-tag (in-dialog): decides Acct-Status-Type
    in_dialog: bool = False


@dataclass(frozen=True, slots=True)
class ExtraSpec:
    """One ``name=$pv[/reply]`` item of log_extra/db_extra/aaa_extra/multi_leg_info."""

    name: str
    pv_text: str
    on_reply: bool = False


class ExtraSyntaxError(ValueError):
    pass


_NAME = re.compile(r"[A-Za-z0-9_.:-]+\Z")


def parse_extra(text: str) -> list[ExtraSpec]:
    """``"src_user=$fU; dst=$avp(s:x)/reply"`` -> [ExtraSpec...]; ExtraSyntaxError on bad input.

    As 1.6's ``parse_acc_extra``: items separated by ';', ``name=pv``, white
    space around tokens ignored, an optional ``/reply`` suffix. The value must
    be a single pseudo-variable.
    """
    specs: list[ExtraSpec] = []
    for raw in (text or "").split(";"):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ExtraSyntaxError(f"bad item {item!r}: expected name=$pv")
        if not _NAME.match(name):
            raise ExtraSyntaxError(f"bad name {name!r} in {item!r}")
        on_reply = False
        if value.endswith("/reply"):
            on_reply = True
            value = value[: -len("/reply")].rstrip()
        if not value.startswith("$"):
            raise ExtraSyntaxError(f"{item!r}: the value must be a pseudo-variable ($...)")
        specs.append(ExtraSpec(name, value, on_reply))
    return specs


def parse_comment(comment: str) -> tuple[str, str]:
    """acc_*_request("404 Not Found") -> ("404", "Not Found"); without 3 leading
    digits the code is empty and the whole comment is the reason (1.6 acc_comm)."""
    text = comment or ""
    if len(text) >= 3 and text[:3].isdigit() and (len(text) == 3 or text[3] in " \t"):
        return text[:3], text[3:].strip()
    return "", text


def aaa_status(record: AccRecord) -> int:
    """Acct-Status-Type as 1.6's ``aaa_status()`` decides it."""
    method = record.method.upper()
    if method == "INVITE" and not record.in_dialog and record.code[:1] == "2":
        return STATUS_START
    if method in ("BYE", "CANCEL"):
        return STATUS_STOP
    if record.in_dialog:
        return STATUS_ALIVE
    return STATUS_FAILED


def log_line(prefix: str, record: AccRecord) -> str:
    """The 1.6 syslog text (without the trailing newline)."""
    parts = [f"{prefix}timestamp={record.timestamp}"]
    core = (record.method, record.from_tag, record.to_tag, record.call_id, record.code, record.reason)
    for name, value in zip(LOG_CORE_NAMES, core):
        parts.append(f"{name}={value}")
    for name, value in record.extras:
        parts.append(f"{name}={'' if value is None else value}")
    for leg in record.legs:
        for name, value in leg:
            parts.append(f"{name}={'' if value is None else value}")
    return ";".join(parts)


def db_rows(record: AccRecord, columns: dict[str, str], time_text: str) -> list[dict[str, str | None]]:
    """The rows of one record: one, or one per leg (1.6 writes a row per leg).

    ``columns`` maps the acc_*_column parameter names to column names;
    ``time_text`` is the DATETIME text of the record's timestamp.
    """
    base: dict[str, str | None] = {
        columns["acc_method_column"]: record.method,
        columns["acc_from_tag_column"]: record.from_tag,
        columns["acc_to_tag_column"]: record.to_tag,
        columns["acc_callid_column"]: record.call_id,
        columns["acc_sip_code_column"]: record.code,
        columns["acc_sip_reason_column"]: record.reason,
        columns["acc_time_column"]: time_text,
    }
    for name, value in record.extras:
        base[name] = value
    if not record.legs:
        return [base]
    rows = []
    for leg in record.legs:
        row = dict(base)
        row.update(dict(leg))
        rows.append(row)
    return rows


def aaa_attributes(record: AccRecord, service_type: int = SERVICE_SIP_SESSION) -> list[tuple[str, int | str]]:
    """RADIUS attributes in 1.6's order; empty strings are left out (as 1.6 does)."""
    attrs: list[tuple[str, int | str]] = [
        ("Acct-Status-Type", aaa_status(record)),
        ("Service-Type", service_type),
    ]
    if record.code.isdigit():
        attrs.append(("Sip-Response-Code", int(record.code)))
    attrs += [
        ("Sip-Method", sip_method_bit(record.method)),
        ("Event-Timestamp", int(record.timestamp)),
    ]
    for name, value in (("Sip-From-Tag", record.from_tag), ("Sip-To-Tag", record.to_tag),
                        ("Acct-Session-Id", record.call_id)):
        if value:
            attrs.append((name, value))
    for name, value in record.extras:
        if value not in (None, ""):
            attrs.append((name, value))  # type: ignore[arg-type]
    for leg in record.legs:
        for name, value in leg:
            if value not in (None, ""):
                attrs.append((name, value))  # type: ignore[arg-type]
    return attrs
