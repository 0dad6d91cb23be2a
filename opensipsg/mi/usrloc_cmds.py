"""usrloc's MI commands (1.6 modules/usrloc/ul_mi.c): ul_rm, ul_rm_contact,
ul_dump [brief], ul_flush, ul_add, ul_show_contact.

They are registered for the module from here (``module_mi("usrloc", ...)``) and
use only usrloc's public API (``domains``/``get_domain``, ``Location``'s
record and contact methods), so the storage code stays in usrloc.py.
Handlers take the usrloc module instance and the argument values.
"""
from __future__ import annotations

import time
from typing import Any

from .dispatch import module_mi
from .tree import MI_BAD_PARM, MI_INTERNAL_ERR, MI_MISSING_PARM, MIReply, error

# ul_mi.c: contacts added over MI carry this Call-ID, User-Agent and CSeq
MI_UL_CALLID = "dfjrewr12386fd6-343@opensips.mi"
MI_UL_USER_AGENT = "OpenSIPS MI Server"
MI_UL_CSEQ = 1

# 1.6 keeps expires=0 for a permanent contact. Our usrloc's Contact.is_valid()
# is ``expires > now``, so a permanent contact gets an expiry far away instead
# (2038-01-19, the largest 32-bit time); the MI output still says "permanent".
PERMANENT_EXPIRES = float(2 ** 31 - 1)

# parser/msg_parser.h method bits (1.6)
METHOD_BITS = {
    "INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "OPTIONS": 32,
    "UPDATE": 64, "REGISTER": 128, "MESSAGE": 256, "SUBSCRIBE": 512, "NOTIFY": 1024,
    "PRACK": 2048, "REFER": 4096, "PUBLISH": 8192,
}
METHOD_OTHER = 16384
ALL_METHODS = 0xFFFFFFFF


def methods_to_mask(methods: Any) -> int:
    """usrloc's method set (None = every method) -> 1.6's bitmask."""
    if methods is None:
        return ALL_METHODS
    mask = 0
    for name in methods:
        mask |= METHOD_BITS.get(str(name).upper(), METHOD_OTHER)
    return mask


def mask_to_methods(mask: int) -> frozenset[str] | None:
    if mask & ALL_METHODS == ALL_METHODS or mask == 0:
        return None  # 1.6 treats both as "every method" (no Allow seen)
    return frozenset(name for name, bit in METHOD_BITS.items() if mask & bit)


def q2str(q: int) -> str:
    """qvalue.h q2str: q*1000 -> "1", "0", "0.5", "0.25"; unspecified (-1) -> ""."""
    if q is None or q < 0:
        return ""
    if q >= 1000:
        return "1"
    if q <= 0:
        return "0"
    text = f"0.{q:03d}".rstrip("0")
    return text


def str2q(text: str) -> int:
    """"1.00" / "0.5" / "1" -> 0..1000 (ValueError otherwise), as qvalue.c str2q."""
    text = text.strip()
    whole, _, frac = text.partition(".")
    if whole not in ("0", "1") or (frac and not frac.isdigit()) or len(frac) > 3:
        raise ValueError(text)
    value = int(whole) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)
    if value > 1000:
        raise ValueError(text)
    return value


def _uint(text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ValueError(text)
    value = int(text)
    if value > 0xFFFFFFFF:
        raise ValueError(text)
    return value


def _find_table(ul: Any, name: str) -> Any:
    getter = getattr(ul, "get_domain", None)
    return getter(name) if callable(getter) else (getattr(ul, "domains", {}) or {}).get(name)


def _fix_aor(ul: Any, aor: str) -> str | None:
    """ul_mi.c mi_fix_aor: with use_domain the AOR needs '@domain'; without it
    the domain part is cut off. None when the domain is missing."""
    if getattr(ul, "use_domain", 0):
        return aor if "@" in aor else None
    return aor.split("@", 1)[0]


def _table_and_aor(ul: Any, args: list[str], nargs: int) -> tuple[Any, str] | MIReply:
    """(usrloc table, fixed AOR) from a command's ``nargs`` arguments (table and AOR
    first), or the error reply."""
    if len(args) != nargs:
        return error(400, MI_MISSING_PARM)
    table = _find_table(ul, args[0])
    if table is None:
        return error(404, "Table not found")
    fixed = _fix_aor(ul, args[1])
    if fixed is None:
        return error(400, "Domain missing in AOR")
    return table, fixed


def _table_aor_record(ul: Any, args: list[str], nargs: int) -> tuple[Any, str, Any] | MIReply:
    """Like :func:`_table_and_aor`, plus the AOR's record (404 when it has none)."""
    found = _table_and_aor(ul, args, nargs)
    if isinstance(found, MIReply):
        return found
    table, aor = found
    record = table.get_record(aor)
    if record is None:
        return error(404, "AOR not found")
    return table, aor, record


def _is_permanent(contact: Any) -> bool:
    return contact.expires == 0 or contact.expires >= PERMANENT_EXPIRES


def _socket(contact: Any) -> str | None:
    return getattr(contact, "socket", None) or None


def _state(contact: Any) -> str:
    state = getattr(contact, "state", None)
    if state is None:
        return "CS_NEW"  # db_mode 0 contacts never leave CS_NEW in 1.6
    text = str(getattr(state, "name", state))
    return text if text.startswith("CS_") else f"CS_{text.upper()}"


@module_mi("usrloc", "ul_rm")
def ul_rm(ul: Any, args: list[str]) -> MIReply:
    found = _table_and_aor(ul, args, 2)
    if isinstance(found, MIReply):
        return found
    table, aor = found
    try:
        table.delete_record(aor)
    except Exception:
        return error(500, "Failed to delete AOR")
    return MIReply()


@module_mi("usrloc", "ul_rm_contact")
def ul_rm_contact(ul: Any, args: list[str]) -> MIReply:
    found = _table_aor_record(ul, args, 3)
    if isinstance(found, MIReply):
        return found
    table, aor, record = found
    # 1.6 looks the contact up with the MI Call-ID, so in matching_mode 1 it finds
    # only MI-added contacts; we match the contact URI alone, as the command says
    for contact in list(record.contacts):
        if contact.contact == args[2]:
            table.delete_contact(record, contact)
            return MIReply()
    return error(404, "Contact not found")


def _add_aor_node(parent: Any, record: Any, now: float, brief: bool) -> None:
    aor_node = parent.add("AOR", record.aor)
    if brief:
        return
    for contact in record.contacts:
        node = aor_node.add("Contact", contact.contact)
        if _is_permanent(contact):
            node.add("Expires", "permanent")
        elif now > contact.expires:
            node.add("Expires", "expired")
        else:
            node.add("Expires", int(contact.expires - now))
        node.attr("Q", q2str(contact.q))
        node.add("Callid", contact.callid)
        node.add("Cseq", contact.cseq)
        if contact.user_agent:
            node.add("User-agent", contact.user_agent)
        if contact.received:
            node.add("Received", contact.received)
        if contact.path:
            node.add("Path", contact.path)
        node.add("State", _state(contact))
        node.add("Flags", contact.flags)
        node.add("Cflags", contact.cflags)
        socket = _socket(contact)
        if socket:
            node.add("Socket", socket)
        node.add("Methods", methods_to_mask(contact.methods))


@module_mi("usrloc", "ul_dump")
def ul_dump(ul: Any, args: list[str]) -> MIReply:
    if len(args) > 1:
        return error(400, MI_MISSING_PARM)
    brief = bool(args) and args[0].lower() == "brief"
    reply = MIReply()
    now = time.time()
    for name, table in list((getattr(ul, "domains", {}) or {}).items()):
        domain = reply.add("Domain", name)
        domain.attr("table", 1 << int(getattr(ul, "hash_size", 9)))
        count = 0
        for record in table.records():
            _add_aor_node(domain, record, now, brief)
            count += 1
        domain.attr("records", count)
    return reply


@module_mi("usrloc", "ul_flush")
def ul_flush(ul: Any, args: list[str]) -> MIReply:
    # synchronize_all_udomains(): write-back modes flush to the database now
    for name in ("flush", "synchronize", "sync"):
        method = getattr(ul, name, None)
        if callable(method):
            method()
            break
    return MIReply()


@module_mi("usrloc", "ul_add")
def ul_add(ul: Any, args: list[str]) -> MIReply:
    """table aor contact expires q unused flags cflags methods (exactly 9)."""
    found = _table_and_aor(ul, args, 9)
    if isinstance(found, MIReply):
        return found
    table, aor = found
    contact_uri = args[2]
    try:
        expires = _uint(args[3])
        q = str2q(args[4])
        flags = _uint(args[6])
        cflags = _uint(args[7])
        methods = _uint(args[8])
    except ValueError:
        return error(400, MI_BAD_PARM)
    from ..modules.usrloc import ContactInfo

    now = time.time()
    info = ContactInfo(
        expires=now + expires if expires else PERMANENT_EXPIRES,
        q=q, callid=MI_UL_CALLID, cseq=MI_UL_CSEQ, flags=flags, cflags=cflags,
        user_agent=MI_UL_USER_AGENT, methods=mask_to_methods(methods), last_modified=now,
    )
    try:
        record = table.get_record(aor)
        existing = None
        if record is not None:
            existing = next((c for c in record.contacts if c.contact == contact_uri), None)
        if existing is not None:
            table.update_contact(record, existing, info)
        else:
            table.insert_contact(aor, contact_uri, info)
    except Exception:
        return error(500, MI_INTERNAL_ERR)
    return MIReply()


@module_mi("usrloc", "ul_show_contact")
def ul_show_contact(ul: Any, args: list[str]) -> MIReply:
    found = _table_aor_record(ul, args, 2)
    if isinstance(found, MIReply):
        return found
    table, aor, record = found
    now = time.time()
    reply = MIReply()
    for contact in record.contacts:
        if not (_is_permanent(contact) or contact.expires > now):
            continue
        expires = 0 if _is_permanent(contact) else int(contact.expires - now)
        text = (
            f"<{contact.contact}>;q={q2str(contact.q)};expires={expires}"
            f";flags=0x{contact.flags:X};cflags=0x{contact.cflags:X}"
            f";socket=<{_socket(contact) or 'NULL'}>;methods=0x{methods_to_mask(contact.methods):X}"
        )
        if contact.received:
            text += f";received=<{contact.received}>"
        if contact.user_agent:
            text += f";user_agent=<{contact.user_agent}>"
        if contact.path:
            text += f";path=<{contact.path}>"
        reply.add("Contact", text)
    if not reply.children:
        # ul_mi.c passes 18 as the length of "AOR has no contacts": 1.6 says this
        return error(404, "AOR has no contact")
    return reply
