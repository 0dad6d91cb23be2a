"""usrloc -- the user location table (OpenSIPS 1.6).

Overview
    Keeps the contacts registered for each address of record (AOR), one
    table ("domain" in OpenSIPS words) per name used by registrar functions,
    e.g. "location". There are no script functions: registrar and MI use the
    Python API below. Contacts of an AOR are kept in q order (highest first,
    equal q in arrival order) or, with desc_time_order, newest first.

    Storage sits behind :class:`Location` (a table) whose records live in a
    :class:`MemoryStorage`; db modes 1-3 will put a write-through,
    write-back or database-only storage with the same interface behind it.
    Only db_mode 0 (memory) is implemented: other modes log a warning and
    run in memory.

    Expired contacts are removed by :meth:`UsrlocModule.expire`, run every
    timer_interval seconds by a greenlet that start() spawns.

Dependencies
    None (a database module once db modes 1-3 exist).

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

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Protocol

from ..registry import Module, Param, register_module

log = logging.getLogger(__name__)

FL_NONE = 0
FL_MEM = 1  # never written to the database (save() flag 'm')

CONTACT_ONLY = 0
CONTACT_CALLID = 1

# get_contact() results, as 1.6's get_ucontact()
FOUND = 0
NOT_FOUND = 1
INVALID_CSEQ = -1
RETRANSMISSION = -2


@dataclass
class ContactInfo:
    """What a REGISTER says about one contact (usrloc's ucontact_info)."""

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


@dataclass
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

    def is_valid(self, now: float) -> bool:
        return self.expires > now

    def update(self, info: ContactInfo) -> None:
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


@dataclass
class Record:
    """All contacts of one AOR (usrloc's urecord)."""

    aor: str
    contacts: list[Contact] = field(default_factory=list)

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

    # -- records ------------------------------------------------------------
    def get_record(self, aor: str) -> Record | None:
        return self.storage.get(aor)

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

    def insert_contact(self, aor: str, contact_uri: str, info: ContactInfo) -> Contact:
        record = self.storage.get(aor)
        if record is None:
            record = Record(aor)
            self.storage.put(record)
        contact = Contact(aor, contact_uri, info.expires)
        contact.update(info)
        self._place(record, contact)
        self.storage.contact_added(contact)
        return contact

    def update_contact(self, record: Record, contact: Contact, info: ContactInfo) -> None:
        old_q = contact.q
        contact.update(info)
        if self.desc_time_order or old_q != contact.q:
            record.contacts.remove(contact)
            self._place(record, contact)
        self.storage.contact_updated(contact)

    def delete_contact(self, record: Record, contact: Contact) -> None:
        if contact in record.contacts:
            record.contacts.remove(contact)
            self.storage.contact_deleted(contact)
        if not record.contacts:
            self.storage.delete(record.aor)

    # -- timer ----------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Remove expired contacts (and empty records); returns how many went."""
        removed = 0
        for record in self.storage.records():
            for contact in list(record.contacts):
                if not contact.is_valid(now):
                    record.contacts.remove(contact)
                    self.storage.contact_deleted(contact)
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

    @property
    def nat_flag(self) -> int:
        """The branch-flag mask of nat_bflag (0 when unset)."""
        return 1 << self.nat_bflag if 0 <= self.nat_bflag < 32 else 0

    def init(self) -> None:
        if self.db_mode != 0:
            log.warning("usrloc: db_mode %d is not supported yet, keeping contacts in memory only", self.db_mode)
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
                MemoryStorage(),
                desc_time_order=bool(self.desc_time_order),
                matching_mode=self.matching_mode,
                cseq_delay=self.cseq_delay,
            )
            self.domains[name] = location
            if self._stats_registered:
                self._register_domain_stats(location)
        return location

    def get_domain(self, name: str) -> Location | None:
        return self.domains.get(name)

    def expire(self, now: float) -> int:
        """Remove expired contacts from every table; returns how many went."""
        return sum(location.expire(now) for location in self.domains.values())

    # -- life cycle (edge: the only gevent use) --------------------------------
    def start(self) -> None:
        import gevent

        def run() -> None:
            while True:
                gevent.sleep(self.timer_interval)
                try:
                    removed = self.expire(time.time())
                    if removed:
                        log.debug("usrloc: %d contacts expired", removed)
                except Exception:  # keep the timer alive whatever happens
                    log.exception("usrloc: expiry timer failed")

        self._timer = gevent.spawn(run)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.kill(block=False)
            self._timer = None
