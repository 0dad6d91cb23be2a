"""usrloc -- the user location table (OpenSIPS 1.6).

Overview
    Keeps the contacts registered for each address of record (AOR), one
    table ("domain" in OpenSIPS words) per name used by registrar functions,
    e.g. "location". There are no script functions: registrar and MI use the
    Python API below. Contacts of an AOR are kept in q order (highest first,
    equal q in arrival order) or, with desc_time_order, newest first.

    Storage sits behind :class:`Location` (a table) through the
    :class:`Storage` interface, chosen by db_mode:

    0  :class:`MemoryStorage` -- memory only.
    1  :class:`WriteThroughStorage` -- memory, and every change written to
       the database at once; rows are loaded on start-up (or first use).
    2  :class:`WriteBackStorage` -- memory; changed contacts are written
       every timer_interval and at stop(); rows are loaded as in mode 1.
    3  :class:`DbOnlyStorage` -- no memory: every lookup and change goes to
       the database, so proxies sharing one database see each other's
       registrations.

    The table in the database has the table's name ("location") and 1.6's
    layout (``location`` version 1005; see opensipsg/db/schema.py), with the
    column names of the *_column parameters. Expires is a DATETIME, the epoch
    meaning "permanent" (expires 0), as 1.6 stores it. Contacts saved with
    registrar's flag 'm' stay in memory in modes 1 and 2.

    Database failures raise :class:`~opensipsg.errors.DBError` before memory
    changes; registrar answers 500 (1.6 logged the failure in mode 1 and
    carried on with memory; we refuse so the UA retries and nothing
    diverges silently).

    Expired contacts are removed by :meth:`UsrlocModule.expire`, run every
    timer_interval seconds by a greenlet that start() spawns (in mode 3 a
    single DELETE of the expired rows).

Dependencies
    A database (opensipsg.db, db_url) for db_mode 1-3.

Parameters
    db_url (str), db_mode (int, 0), timer_interval (int, 60),
    use_domain (int, 0), desc_time_order (int, 0), matching_mode (int, 0:
    contact only; 1: contact and Call-ID), cseq_delay (int, 20),
    fetch_rows (int, 2000), hash_size (int, 9), nat_bflag (int, -1: unset),
    and the column names user_column, domain_column, contact_column,
    expires_column, q_column, callid_column, cseq_column, methods_column,
    flags_column, cflags_column, user_agent_column, received_column,
    socket_column, path_column.

Statistics
    usrloc:registered_users, and per table usrloc:<table>-users,
    usrloc:<table>-contacts, usrloc:<table>-expires.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Iterator, Mapping, Protocol

from ..db import check_identifier, db_to_time, time_to_db
from ..errors import DBError
from ..registry import Module, Param, register_module

log = logging.getLogger(__name__)

NO_DB = 0
WRITE_THROUGH = 1
WRITE_BACK = 2
DB_ONLY = 3

FL_NONE = 0
FL_MEM = 1  # never written to the database (save() flag 'm')

CONTACT_ONLY = 0
CONTACT_CALLID = 1

# get_contact() results, as 1.6's get_ucontact()
FOUND = 0
NOT_FOUND = 1
INVALID_CSEQ = -1
RETRANSMISSION = -2


@dataclass(slots=True)
class ContactInfo:
    """What a REGISTER says about one contact (usrloc's ucontact_info).

    usrloc copies the fields and never keeps the object, so a caller may reuse
    one for several contacts."""

    expires: float
    q: int = -1  # q * 1000, -1 = unspecified
    callid: str = ""
    cseq: int = 0
    flags: int = FL_NONE
    cflags: int = 0
    user_agent: str = ""
    received: str | None = None
    path: str | None = None
    socket: str | None = None
    methods: frozenset[str] | None = None  # None = every method
    last_modified: float = 0.0


@dataclass(slots=True)
class Contact:
    """One binding of an AOR (usrloc's ucontact)."""

    aor: str
    contact: str
    expires: float
    q: int = -1
    callid: str = ""
    cseq: int = 0
    flags: int = FL_NONE
    cflags: int = 0
    user_agent: str = ""
    received: str | None = None
    path: str | None = None
    socket: str | None = None
    methods: frozenset[str] | None = None
    last_modified: float = 0.0
    # registrar's save() parsed this contact URI (a refresh with the same text skips parse_uri);
    # not stored in the database
    uri_checked: bool = False

    def is_valid(self, now: float) -> bool:
        """Not expired; expires 0 means permanent (1.6's VALID_CONTACT, e.g. ``ul add ... 0``)."""
        return self.expires == 0 or self.expires > now

    @classmethod
    def from_info(cls, aor: str, contact: str, info: ContactInfo) -> "Contact":
        return cls(aor, contact, info.expires, info.q, info.callid, info.cseq, info.flags, info.cflags,
                   info.user_agent, info.received, info.path, info.socket, info.methods,
                   info.last_modified)

    def update(self, info: ContactInfo) -> None:
        """Take every field of ``info`` (Contact has them all, under the same names)."""
        # spelled out: a loop of getattr/setattr over the field names costs twice as much
        self.expires = info.expires
        self.q = info.q
        self.callid = info.callid
        self.cseq = info.cseq
        self.flags = info.flags
        self.cflags = info.cflags
        self.user_agent = info.user_agent
        self.received = info.received
        self.path = info.path
        self.socket = info.socket
        self.methods = info.methods
        self.last_modified = info.last_modified

    def allows(self, method: str) -> bool:
        return self.methods is None or method.upper() in self.methods


@dataclass(slots=True)
class Record:
    """All contacts of one AOR (usrloc's urecord)."""

    aor: str
    contacts: list[Contact] = field(default_factory=list)
    # the AOR text (To URI) registrar's save() last took this AOR from: a refresh with the
    # same text finds the record without parsing it again; not stored in the database
    aor_uri: str = ""

    def valid_contacts(self, now: float) -> list[Contact]:
        return [c for c in self.contacts if c.is_valid(now)]


class Storage(Protocol):
    """Where a table keeps its records (memory now; databases later)."""

    def get(self, aor: str) -> Record | None: ...
    def put(self, record: Record) -> None: ...
    def delete(self, aor: str) -> None: ...
    def records(self) -> Iterator[Record]: ...
    def contact_added(self, contact: Contact) -> None: ...
    def contact_updated(self, contact: Contact) -> None: ...
    def contact_deleted(self, contact: Contact) -> None: ...
    def __len__(self) -> int: ...


class MemoryStorage:
    """db_mode 0: a dict of records; the change hooks do nothing."""

    def __init__(self) -> None:
        self._records: dict[str, Record] = {}

    def get(self, aor: str) -> Record | None:
        return self._records.get(aor)

    def put(self, record: Record) -> None:
        self._records[record.aor] = record

    def delete(self, aor: str) -> None:
        self._records.pop(aor, None)

    def records(self) -> Iterator[Record]:
        return iter(list(self._records.values()))

    def contact_added(self, contact: Contact) -> None:
        pass

    def contact_updated(self, contact: Contact) -> None:
        pass

    def contact_deleted(self, contact: Contact) -> None:
        pass

    def __len__(self) -> int:
        return len(self._records)


# -- database storages (db_mode 1, 2, 3) -------------------------------------------

# 1.6's METHOD_* bits (parser/msg_parser.h), how the methods column stores Allow
METHOD_BITS = {
    "INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "OPTIONS": 32, "UPDATE": 64,
    "REGISTER": 128, "MESSAGE": 256, "SUBSCRIBE": 512, "NOTIFY": 1024, "PRACK": 2048,
    "REFER": 4096, "PUBLISH": 8192,
}
METHOD_OTHER = 16384
ALL_METHODS = sum(METHOD_BITS.values()) | METHOD_OTHER


def methods_to_db(methods: frozenset[str] | None) -> int | None:
    """Allowed methods -> 1.6 bitmask (None = every method = NULL). Unknown names
    set METHOD_OTHER, which reads back as "every method" (1.6 loses them too)."""
    if methods is None:
        return None
    mask = 0
    for name in methods:
        mask |= METHOD_BITS.get(name.upper(), METHOD_OTHER)
    return mask


def methods_from_db(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    mask = int(value)
    if mask < 0 or mask & METHOD_OTHER or mask & ALL_METHODS == ALL_METHODS:
        return None
    return frozenset(name for name, bit in METHOD_BITS.items() if mask & bit)


def _ordered(contacts: list[Contact], desc_time_order: bool) -> list[Contact]:
    """Contacts (in arrival order) in the order Location._place keeps them."""
    if desc_time_order:
        return list(reversed(contacts))
    return sorted(contacts, key=lambda c: -c.q)


LOCATION_VERSION = 1005


class UsrlocTable:
    """Rows of one usrloc table in a Database, 1.6 layout (``location`` [1005]).

    Keys as 1.6: username (and domain when use_domain: the AOR is split at its
    last '@'), contact, and callid when matching_mode is 1. Expires and
    last_modified are DATETIME; expires 0 (permanent) is stored as the epoch
    in local time, as 1.6 does. q is stored as q/1000 (FLOAT(10,2): two
    decimals survive, as in 1.6); unspecified q (-1) is stored as -1.
    """

    def __init__(self, db: Any, table: str, columns: dict[str, str], use_domain: bool,
                 matching_mode: int, desc_time_order: bool = False) -> None:
        self.db = db
        self.table = table
        self.col = columns
        self.use_domain = use_domain
        self.matching_mode = matching_mode
        self.desc_time_order = desc_time_order
        self._version_checked = False
        self._fields = [
            columns[k] for k in ("user", "domain", "contact", "expires", "q", "callid", "cseq", "flags",
                                 "cflags", "user_agent", "received", "path", "socket", "methods")
        ] + ["last_modified"]

    def check_version(self) -> None:
        """Refuse a table of another layout, as 1.6 does at start-up (once)."""
        if self._version_checked:
            return
        try:
            version = self.db.table_version(self.table)
        except DBError as exc:
            log.warning("usrloc: cannot read the version of table %s: %s", self.table, exc)
            version = None
        if version is not None and version != LOCATION_VERSION:
            raise DBError(f"usrloc: table {self.table} has version {version}, expected {LOCATION_VERSION}")
        self._version_checked = True

    def _aor_where(self, aor: str) -> dict[str, Any]:
        if not self.use_domain:
            return {self.col["user"]: aor}
        user, sep, domain = aor.rpartition("@")
        if not sep:
            user, domain = aor, ""
        return {self.col["user"]: user, self.col["domain"]: domain}

    def _key(self, contact: Contact) -> dict[str, Any]:
        where = self._aor_where(contact.aor)
        where[self.col["contact"]] = contact.contact
        if self.matching_mode == CONTACT_CALLID:
            where[self.col["callid"]] = contact.callid
        return where

    def _values(self, contact: Contact) -> dict[str, Any]:
        col = self.col
        return {
            col["expires"]: time_to_db(contact.expires),
            col["q"]: -1.0 if contact.q < 0 else contact.q / 1000.0,
            col["callid"]: contact.callid,
            col["cseq"]: contact.cseq,
            col["flags"]: contact.flags,
            col["cflags"]: contact.cflags,
            col["user_agent"]: contact.user_agent,
            col["received"]: contact.received,
            col["path"]: contact.path,
            col["socket"]: contact.socket,
            col["methods"]: methods_to_db(contact.methods),
            "last_modified": time_to_db(contact.last_modified),
        }

    def write(self, contact: Contact) -> None:
        """Update the contact's row, or insert it when there is none."""
        self.check_version()
        values = self._values(contact)
        if self.db.update(self.table, values, self._key(contact)) == 0:
            self.db.insert(self.table, {**self._key(contact), **values})

    def remove(self, contact: Contact) -> None:
        self.check_version()
        self.db.delete(self.table, self._key(contact))

    def _contact(self, row: dict[str, Any]) -> Contact:
        col = self.col
        user = row[col["user"]] or ""
        domain = row[col["domain"]] if self.use_domain else None
        aor = f"{user}@{domain}" if domain else user
        q_value = row[col["q"]]
        q = -1 if q_value is None or float(q_value) < 0 else int(round(float(q_value) * 1000))
        return Contact(
            aor=aor,
            contact=row[col["contact"]],
            expires=db_to_time(row[col["expires"]]),
            q=q,
            callid=row[col["callid"]] or "",
            cseq=int(row[col["cseq"]] or 0),
            flags=int(row[col["flags"]] or 0),
            cflags=int(row[col["cflags"]] or 0),
            user_agent=row[col["user_agent"]] or "",
            received=row[col["received"]] or None,
            path=row[col["path"]] or None,
            socket=row[col["socket"]] or None,
            methods=methods_from_db(row[col["methods"]]),
            last_modified=db_to_time(row["last_modified"]),
        )

    def load(self, aor: str | None = None) -> list[Record]:
        """Records of one AOR (or all), contacts in the order Location keeps them."""
        self.check_version()
        where = self._aor_where(aor) if aor is not None else {}
        rows = self.db.select(self.table, ["id", *self._fields], where, order_by="id")
        records: dict[str, Record] = {}
        for row in rows:
            contact = self._contact(row)
            records.setdefault(contact.aor, Record(contact.aor)).contacts.append(contact)
        for record in records.values():
            record.contacts = _ordered(record.contacts, self.desc_time_order)
        return list(records.values())

    def delete_expired(self, now: float) -> int:
        """DELETE rows that expired before ``now`` (never the permanent ones)."""
        self.check_version()
        expires = self.db.quote(self.col["expires"])
        return self.db.execute(
            f"DELETE FROM {self.db.quote(self.table)} WHERE {expires} < ? AND {expires} <> ?",
            (time_to_db(now), time_to_db(0)),
        )


class WriteThroughStorage(MemoryStorage):
    """db_mode 1: memory, and every change written to the database at once.

    Rows are loaded on first use (and again after a failed load); a DB failure
    raises DBError before memory changes. Contacts saved with flag 'm'
    (FL_MEM) stay in memory only.
    """

    def __init__(self, table: UsrlocTable) -> None:
        super().__init__()
        self.table = table
        self.loaded = False

    def load(self) -> None:
        if self.loaded:
            return
        records = self.table.load()
        for record in records:
            mine = self._records.get(record.aor)
            if mine is None:
                self._records[record.aor] = record
            else:  # saved before the load (flag 'm'): keep both, ours first
                known = {c.contact for c in mine.contacts}
                mine.contacts.extend(c for c in record.contacts if c.contact not in known)
        self.loaded = True
        log.info("usrloc: loaded %d contacts of table %s",
                 sum(len(r.contacts) for r in records), self.table.table)

    def get(self, aor: str) -> Record | None:
        self.load()
        return super().get(aor)

    def records(self) -> Iterator[Record]:
        self.load()
        return super().records()

    def __len__(self) -> int:
        try:
            self.load()
        except DBError as exc:
            log.error("usrloc: cannot load table %s: %s", self.table.table, exc)
        return super().__len__()

    def contact_added(self, contact: Contact) -> None:
        if not contact.flags & FL_MEM:
            self.table.write(contact)

    def contact_updated(self, contact: Contact) -> None:
        if not contact.flags & FL_MEM:
            self.table.write(contact)

    def contact_deleted(self, contact: Contact) -> None:
        if not contact.flags & FL_MEM:
            self.table.remove(contact)


class WriteBackStorage(WriteThroughStorage):
    """db_mode 2: memory; changed contacts are written by flush(), which the
    timer runs every timer_interval and stop() runs at the end. A failed flush
    keeps what it could not write for the next one."""

    def __init__(self, table: UsrlocTable) -> None:
        super().__init__(table)
        # db key -> ("write" | "delete", snapshot of the contact)
        self.pending: dict[tuple[str, str, str], tuple[str, Contact]] = {}

    def _mark(self, action: str, contact: Contact) -> None:
        if contact.flags & FL_MEM:
            return
        callid = contact.callid if self.table.matching_mode == CONTACT_CALLID else ""
        self.pending[(contact.aor, contact.contact, callid)] = (action, dataclasses.replace(contact))

    def contact_added(self, contact: Contact) -> None:
        self._mark("write", contact)

    def contact_updated(self, contact: Contact) -> None:
        self._mark("write", contact)

    def contact_deleted(self, contact: Contact) -> None:
        self._mark("delete", contact)

    def flush(self) -> int:
        """Write the pending changes; returns how many were written."""
        done = 0
        for key, (action, contact) in list(self.pending.items()):
            if action == "write":
                self.table.write(contact)
            else:
                self.table.remove(contact)
            if self.pending.get(key, (None, None))[1] is contact:
                del self.pending[key]
            done += 1
        return done


class DbOnlyStorage:
    """db_mode 3: no memory at all; every lookup and change goes to the database,
    so several proxies on one database share their registrations."""

    def __init__(self, table: UsrlocTable) -> None:
        self.table = table

    def get(self, aor: str) -> Record | None:
        records = self.table.load(aor)
        return records[0] if records else None

    def put(self, record: Record) -> None:
        pass  # rows appear with their contacts

    def delete(self, aor: str) -> None:
        pass  # contacts are deleted one by one; another proxy may have added one since

    def records(self) -> Iterator[Record]:
        return iter(self.table.load())

    def contact_added(self, contact: Contact) -> None:
        self.table.write(contact)

    def contact_updated(self, contact: Contact) -> None:
        self.table.write(contact)

    def contact_deleted(self, contact: Contact) -> None:
        self.table.remove(contact)

    def delete_expired(self, now: float) -> int:
        return self.table.delete_expired(now)

    def __len__(self) -> int:
        try:
            return len(self.table.load())
        except DBError as exc:
            log.error("usrloc: cannot count records of table %s: %s", self.table.table, exc)
            return 0


_NO_RECORDS: Mapping[str, Record] = MappingProxyType({})


class Location:
    """One usrloc table ("location"): records per AOR and their contacts."""

    def __init__(
        self,
        name: str,
        storage: Storage | None = None,
        *,
        desc_time_order: bool = False,
        matching_mode: int = CONTACT_ONLY,
        cseq_delay: int = 20,
    ) -> None:
        self.name = name
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.desc_time_order = desc_time_order
        self.matching_mode = matching_mode
        self.cseq_delay = cseq_delay
        self.expired_total = 0
        # get_record(aor) -> Record | None: the storage's own get (save() looks a record
        # up several times, a forwarding method would add a call each time); memory only:
        # the dict's get itself (a C call, no Python frame)
        storage = self.storage
        self.get_record: Callable[[str], Record | None] = (
            storage._records.get if type(storage) is MemoryStorage else storage.get  # type: ignore[attr-defined]
        )
        # memory only: insert_contact() stores a new record in the dict itself (no put() frame)
        self._memory: dict[str, Record] | None = (
            storage._records if type(storage) is MemoryStorage else None  # type: ignore[attr-defined]
        )
        # whether the storage's change hooks do something (not for memory only): else
        # insert and update skip calling them, and update skips the copy it hands them
        # memory_record(aor): the record when this table keeps its records in a plain dict, else
        # None without asking the storage (registrar: which Contact URIs it parsed before)
        self.memory_record: Callable[[str], Record | None] = (
            self._memory.get if self._memory is not None else _NO_RECORDS.get
        )
        self._hooked = any(getattr(type(self.storage), hook, None) is not getattr(MemoryStorage, hook)
                           for hook in ("contact_added", "contact_updated"))

    # -- records ------------------------------------------------------------
    def records(self) -> Iterator[Record]:
        return self.storage.records()

    def delete_record(self, aor: str) -> None:
        record = self.storage.get(aor)
        if record is None:
            return
        for contact in record.contacts:
            self.storage.contact_deleted(contact)
        self.storage.delete(aor)

    # -- contacts -----------------------------------------------------------
    def get_contact(
        self, record: Record, contact_uri: str, callid: str, cseq: int, now: float
    ) -> tuple[int, Contact | None]:
        """Find a contact and check Call-ID/CSeq (FOUND, NOT_FOUND, INVALID_CSEQ, RETRANSMISSION)."""
        for contact in record.contacts:
            if contact.contact != contact_uri:
                continue
            if self.matching_mode == CONTACT_CALLID and contact.callid != callid:
                continue
            if self.matching_mode == CONTACT_CALLID or contact.callid == callid:
                if cseq < contact.cseq:
                    return INVALID_CSEQ, None
                if cseq == contact.cseq:
                    if contact.last_modified + self.cseq_delay > now:
                        return RETRANSMISSION, None
                    return INVALID_CSEQ, None
            return FOUND, contact
        return NOT_FOUND, None

    def _place(self, record: Record, contact: Contact) -> None:
        if self.desc_time_order:
            record.contacts.insert(0, contact)
            return
        for index, other in enumerate(record.contacts):
            if other.q < contact.q:
                record.contacts.insert(index, contact)
                return
        record.contacts.append(contact)

    # The storage hooks run before memory changes: when the database refuses
    # (DBError), the table is left as it was and registrar answers 500.
    def insert_contact(self, aor: str, contact_uri: str, info: ContactInfo) -> Contact:
        storage = self.storage
        record = self.get_record(aor)
        # Contact.from_info(aor, contact_uri, info), without the extra call
        contact = Contact(aor, contact_uri, info.expires, info.q, info.callid, info.cseq, info.flags,
                          info.cflags, info.user_agent, info.received, info.path, info.socket,
                          info.methods, info.last_modified)
        if self._hooked:
            storage.contact_added(contact)
        if record is None:  # a new AOR: its one contact needs no placing
            if self._memory is not None:
                self._memory[aor] = Record(aor, [contact])
            else:
                storage.put(Record(aor, [contact]))
        else:
            self._place(record, contact)
        return contact

    def update_contact(self, record: Record, contact: Contact, info: ContactInfo) -> None:
        if self._hooked:
            updated = dataclasses.replace(contact)
            updated.update(info)
            self.storage.contact_updated(updated)
        old_q = contact.q
        # contact.update(info) written out: every refresh comes this way, one frame less
        contact.expires = info.expires
        contact.q = info.q
        contact.callid = info.callid
        contact.cseq = info.cseq
        contact.flags = info.flags
        contact.cflags = info.cflags
        contact.user_agent = info.user_agent
        contact.received = info.received
        contact.path = info.path
        contact.socket = info.socket
        contact.methods = info.methods
        contact.last_modified = info.last_modified
        if self.desc_time_order or old_q != contact.q:
            record.contacts.remove(contact)
            self._place(record, contact)

    def delete_contact(self, record: Record, contact: Contact) -> None:
        if contact in record.contacts:
            self.storage.contact_deleted(contact)
            record.contacts.remove(contact)
        if not record.contacts:
            self.storage.delete(record.aor)

    # -- timer ----------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Remove expired contacts (and empty records); returns how many went."""
        delete_expired = getattr(self.storage, "delete_expired", None)
        if delete_expired is not None:  # db_mode 3: one DELETE in the database
            removed = delete_expired(now)
            self.expired_total += removed
            return removed
        removed = 0
        for record in self.storage.records():
            for contact in list(record.contacts):
                if not contact.is_valid(now):
                    self.storage.contact_deleted(contact)
                    record.contacts.remove(contact)
                    removed += 1
            if not record.contacts:
                self.storage.delete(record.aor)
        self.expired_total += removed
        return removed

    # -- statistics -----------------------------------------------------------
    def user_count(self) -> int:
        return len(self.storage)

    def contact_count(self) -> int:
        return sum(len(r.contacts) for r in self.storage.records())


@register_module
class UsrlocModule(Module):
    name = "usrloc"
    params = {
        "db_url": Param(str, "mysql://opensips:opensipsrw@localhost/opensips"),
        "db_mode": Param(int, 0),
        "timer_interval": Param(int, 60),
        "use_domain": Param(int, 0),
        "desc_time_order": Param(int, 0),
        "matching_mode": Param(int, CONTACT_ONLY),
        "cseq_delay": Param(int, 20),
        "fetch_rows": Param(int, 2000),
        "hash_size": Param(int, 9),
        "nat_bflag": Param(int, -1),
        "user_column": Param(str, "username"),
        "domain_column": Param(str, "domain"),
        "contact_column": Param(str, "contact"),
        "expires_column": Param(str, "expires"),
        "q_column": Param(str, "q"),
        "callid_column": Param(str, "callid"),
        "cseq_column": Param(str, "cseq"),
        "methods_column": Param(str, "methods"),
        "flags_column": Param(str, "flags"),
        "cflags_column": Param(str, "cflags"),
        "user_agent_column": Param(str, "user_agent"),
        "received_column": Param(str, "received"),
        "socket_column": Param(str, "socket"),
        "path_column": Param(str, "path"),
    }

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.domains: dict[str, Location] = {}
        self._timer: Any = None
        self._stats_registered = False
        self.db: Any = None  # the Database of db_url (db_mode 1-3), opened on first use

    @property
    def nat_flag(self) -> int:
        """The branch-flag mask of nat_bflag (0 when unset)."""
        return 1 << self.nat_bflag if 0 <= self.nat_bflag < 32 else 0

    def init(self) -> None:
        if self.db_mode not in (NO_DB, WRITE_THROUGH, WRITE_BACK, DB_ONLY):
            raise ValueError(f"usrloc: invalid db_mode {self.db_mode}")
        if self.db_mode != NO_DB:
            if not self.db_url:
                raise ValueError("usrloc: db_mode needs a db_url")
            try:
                self._columns()
            except DBError as exc:
                raise ValueError(f"usrloc: {exc}") from None
            # lazy: nothing is opened here, so `opensipsg -c` needs no database
            self.db = self.core.database(self.db_url)
        if self.matching_mode not in (CONTACT_ONLY, CONTACT_CALLID):
            raise ValueError(f"usrloc: invalid matching_mode {self.matching_mode}")
        if self.timer_interval <= 0:
            raise ValueError("usrloc: timer_interval must be positive")
        self._register_stats()

    def _register_stats(self) -> None:
        if self._stats_registered:
            return
        self._stats_registered = True
        self.core.stats.register(
            "usrloc:registered_users", lambda: sum(d.user_count() for d in self.domains.values())
        )
        for location in self.domains.values():
            self._register_domain_stats(location)

    def _register_domain_stats(self, location: Location) -> None:
        name = location.name
        self.core.stats.register(f"usrloc:{name}-users", location.user_count)
        self.core.stats.register(f"usrloc:{name}-contacts", location.contact_count)
        self.core.stats.register(f"usrloc:{name}-expires", lambda: location.expired_total)

    def register_domain(self, name: str) -> Location:
        """The table ``name``, created on first use (usrloc's register_udomain)."""
        location = self.domains.get(name)
        if location is None:
            location = Location(
                name,
                self._storage(name),
                desc_time_order=bool(self.desc_time_order),
                matching_mode=self.matching_mode,
                cseq_delay=self.cseq_delay,
            )
            self.domains[name] = location
            if self._stats_registered:
                self._register_domain_stats(location)
        return location

    def _columns(self) -> dict[str, str]:
        names = ("user", "domain", "contact", "expires", "q", "callid", "cseq", "methods", "flags",
                 "cflags", "user_agent", "received", "socket", "path")
        return {name: check_identifier(getattr(self, f"{name}_column")) for name in names}

    def _storage(self, name: str) -> Storage:
        if self.db_mode == NO_DB:
            return MemoryStorage()
        if self.db is None:
            self.db = self.core.database(self.db_url)
        table = UsrlocTable(self.db, check_identifier(name), self._columns(), bool(self.use_domain),
                            self.matching_mode, bool(self.desc_time_order))
        if self.db_mode == WRITE_THROUGH:
            return WriteThroughStorage(table)
        if self.db_mode == WRITE_BACK:
            return WriteBackStorage(table)
        return DbOnlyStorage(table)

    def flush(self) -> int:
        """db_mode 2: write every table's pending changes (MI ul_flush); returns how many."""
        done = 0
        for location in self.domains.values():
            if isinstance(location.storage, WriteBackStorage):
                done += location.storage.flush()
        return done

    def timer(self, now: float) -> None:
        """One timer round: expire contacts, then (db_mode 2) flush; errors are logged."""
        try:
            removed = self.expire(now)
            if removed:
                log.debug("usrloc: %d contacts expired", removed)
        except Exception:
            log.exception("usrloc: expiry timer failed")
        if self.db_mode == WRITE_BACK:
            try:
                self.flush()
            except Exception:
                log.exception("usrloc: flushing to the database failed")

    def get_domain(self, name: str) -> Location | None:
        return self.domains.get(name)

    def expire(self, now: float) -> int:
        """Remove expired contacts from every table; returns how many went."""
        return sum(location.expire(now) for location in self.domains.values())

    # -- life cycle (edge: the only gevent use) --------------------------------
    def start(self) -> None:
        import gevent

        if self.db_mode in (WRITE_THROUGH, WRITE_BACK):
            # load what survived the last run now rather than on the first request
            for location in self.domains.values():
                try:
                    location.storage.load()  # type: ignore[attr-defined]
                except DBError as exc:
                    log.error("usrloc: cannot load table %s (will retry on use): %s", location.name, exc)

        def run() -> None:
            while True:
                gevent.sleep(self.timer_interval)
                self.timer(time.time())  # never raises: keeps the timer alive

        self._timer = gevent.spawn(run)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None
        if self.db_mode == WRITE_BACK:
            try:
                self.flush()
            except DBError as exc:
                log.error("usrloc: final flush to the database failed: %s", exc)
