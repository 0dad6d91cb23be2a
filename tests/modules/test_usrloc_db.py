"""usrloc db_mode 1 (write-through), 2 (write-back), 3 (DB only) on SQLite and
MariaDB; registrations survive a restart; two proxies share a table in mode 3;
database failures become 500 replies in registrar."""
from __future__ import annotations

import pytest

from opensipsg.db import DBError, connect, time_to_db
from opensipsg.db.schema import create_database, create_statements, drop_statements
from opensipsg.modules.registrar import RegistrarModule
from opensipsg.modules.usrloc import (
    FL_MEM, ContactInfo, DbOnlyStorage, UsrlocModule, WriteBackStorage, WriteThroughStorage,
    methods_from_db, methods_to_db,
)

from .conftest import FakeCore, make_ctx
from .test_registrar import register

NOW = 1_700_000_000.0


class DbCore(FakeCore):
    """FakeCore plus Core.database(): one shared Database per URL."""

    def __init__(self) -> None:
        super().__init__()
        self.databases: dict[str, object] = {}
        self.modules: dict[str, object] = {}

    def database(self, url: str):
        if url not in self.databases:
            self.databases[url] = connect(url, timeout=3)
        return self.databases[url]


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.integration)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/usrloc.db"
    else:
        url = request.getfixturevalue("mariadb").url
    db = connect(url)
    for statement in drop_statements(db.dialect):
        db.execute(statement)
    create_database(db, ["location"])
    db.close()
    yield url
    if request.param == "mysql":
        db = connect(url)
        for statement in drop_statements(db.dialect):
            db.execute(statement)
        db.close()


def make_usrloc(url: str, mode: int, **params) -> tuple[UsrlocModule, DbCore]:
    core = DbCore()
    usrloc = UsrlocModule(core)
    usrloc.set_param("db_url", url)
    usrloc.set_param("db_mode", mode)
    for name, value in params.items():
        usrloc.set_param(name, value)
    core.modules["usrloc"] = usrloc
    usrloc.init()
    return usrloc, core


def info(expires=NOW + 3600, **kw) -> ContactInfo:
    values = dict(q=500, callid="call-1", cseq=7, cflags=4, user_agent="phone/1.0", received="sip:192.0.2.9:5099",
                  path="<sip:edge.example.com;lr>", socket="udp:10.0.0.1:5060",
                  methods=frozenset({"INVITE", "BYE", "MESSAGE"}), last_modified=NOW)
    values.update(kw)
    return ContactInfo(expires=expires, **values)


def rows(url: str, **where):
    db = connect(url)
    try:
        return db.select("location", ["username", "domain", "contact", "expires", "q", "callid", "cseq", "flags",
                                      "cflags", "user_agent", "received", "path", "socket", "methods"],
                         where, order_by="id")
    finally:
        db.close()


def snapshot(location, aor):
    record = location.get_record(aor)
    return None if record is None else [
        (c.aor, c.contact, c.expires, c.q, c.callid, c.cseq, c.flags, c.cflags, c.user_agent, c.received,
         c.path, c.socket, c.methods, c.last_modified) for c in record.contacts]


def test_methods_bitmask():
    assert methods_to_db(None) is None
    assert methods_to_db(frozenset({"INVITE", "BYE"})) == 9
    assert methods_from_db(9) == frozenset({"INVITE", "BYE"})
    assert methods_from_db(None) is None
    assert methods_from_db(0xFFFFFFFF) is None
    assert methods_from_db(methods_to_db(frozenset({"INVITE", "FOO"}))) is None  # METHOD_OTHER: all


def test_storage_per_mode(tmp_path):
    url = f"sqlite:///{tmp_path}/x.db"
    for mode, kind in ((1, WriteThroughStorage), (2, WriteBackStorage), (3, DbOnlyStorage)):
        usrloc, _ = make_usrloc(url, mode)
        assert type(usrloc.register_domain("location").storage) is kind
    with pytest.raises(ValueError):
        make_usrloc(url, 4)


def test_init_opens_nothing(tmp_path):
    path = tmp_path / "lazy.db"
    usrloc, core = make_usrloc(f"sqlite:///{path}", 1)
    usrloc.register_domain("location")
    assert not path.exists()


@pytest.mark.parametrize("mode", [1, 3])
def test_changes_written_at_once(db_url, mode):
    usrloc, _ = make_usrloc(db_url, mode)
    location = usrloc.register_domain("location")
    location.insert_contact("alice", "sip:alice@192.0.2.1", info())
    assert rows(db_url) == [{
        "username": "alice", "domain": None, "contact": "sip:alice@192.0.2.1", "expires": time_to_db(NOW + 3600),
        "q": 0.5, "callid": "call-1", "cseq": 7, "flags": 0, "cflags": 4, "user_agent": "phone/1.0",
        "received": "sip:192.0.2.9:5099", "path": "<sip:edge.example.com;lr>", "socket": "udp:10.0.0.1:5060",
        "methods": 1 + 8 + 256,
    }]
    record = location.get_record("alice")
    location.update_contact(record, record.contacts[0], info(cseq=8, q=-1, methods=None, received=None))
    assert [(r["cseq"], r["q"], r["methods"], r["received"]) for r in rows(db_url)] == [(8, -1.0, None, None)]
    record = location.get_record("alice")
    location.delete_contact(record, record.contacts[0])
    assert rows(db_url) == []
    assert location.get_record("alice") is None


def test_write_back_flushes_on_timer_and_stop(db_url):
    usrloc, _ = make_usrloc(db_url, 2)
    location = usrloc.register_domain("location")
    location.insert_contact("alice", "sip:alice@192.0.2.1", info())
    location.insert_contact("bob", "sip:bob@192.0.2.2", info())
    assert rows(db_url) == []
    usrloc.timer(NOW)
    assert [r["username"] for r in rows(db_url)] == ["alice", "bob"]
    record = location.get_record("bob")
    location.delete_contact(record, record.contacts[0])
    record = location.get_record("alice")
    location.update_contact(record, record.contacts[0], info(cseq=9))
    assert len(rows(db_url)) == 2
    usrloc.stop()
    assert [(r["username"], r["cseq"]) for r in rows(db_url)] == [("alice", 9)]


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_registrations_survive_restart(db_url, mode):
    usrloc, _ = make_usrloc(db_url, mode)
    location = usrloc.register_domain("location")
    location.insert_contact("alice", "sip:alice@192.0.2.1", info())
    location.insert_contact("alice", "sip:alice@192.0.2.7", info(q=1000, callid="call-2", methods=None))
    location.insert_contact("carol", "sip:carol@192.0.2.3", info(expires=0))  # permanent
    location.insert_contact("dave", "sip:dave@192.0.2.4", info(flags=FL_MEM))  # save(..., "m")
    before = {aor: snapshot(location, aor) for aor in ("alice", "carol")}
    usrloc.stop()  # mode 2 writes here

    again, _ = make_usrloc(db_url, mode)
    table = again.register_domain("location")
    assert {aor: snapshot(table, aor) for aor in ("alice", "carol")} == before
    assert [c.contact for c in table.get_record("alice").contacts] == ["sip:alice@192.0.2.7", "sip:alice@192.0.2.1"]
    if mode == 3:  # no memory: flag 'm' cannot keep a contact out of the database
        assert table.get_record("dave") is not None
    else:
        assert table.get_record("dave") is None
    assert table.user_count() == (3 if mode == 3 else 2)


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_timer_deletes_expired_rows(db_url, mode):
    usrloc, _ = make_usrloc(db_url, mode)
    location = usrloc.register_domain("location")
    location.insert_contact("alice", "sip:alice@192.0.2.1", info(expires=NOW + 10))
    location.insert_contact("bob", "sip:bob@192.0.2.2", info(expires=NOW + 100))
    location.insert_contact("carol", "sip:carol@192.0.2.3", info(expires=0))
    usrloc.timer(NOW)
    usrloc.timer(NOW + 50)
    assert [r["username"] for r in rows(db_url)] == ["bob", "carol"]
    assert location.get_record("alice") is None
    assert location.expired_total == 1


def test_two_proxies_share_db_only_table(db_url):
    first, _ = make_usrloc(db_url, 3)
    second, _ = make_usrloc(db_url, 3)
    one = first.register_domain("location")
    two = second.register_domain("location")
    one.insert_contact("alice", "sip:alice@192.0.2.1", info())
    assert [c.contact for c in two.get_record("alice").contacts] == ["sip:alice@192.0.2.1"]
    two.insert_contact("alice", "sip:alice@192.0.2.2", info(q=1000, callid="other"))
    assert [c.contact for c in one.get_record("alice").contacts] == ["sip:alice@192.0.2.2", "sip:alice@192.0.2.1"]
    record = two.get_record("alice")
    two.delete_contact(record, record.contacts[1])  # removes first's contact
    assert [c.contact for c in one.get_record("alice").contacts] == ["sip:alice@192.0.2.2"]


def test_use_domain_splits_the_aor(db_url):
    usrloc, _ = make_usrloc(db_url, 1, use_domain=1)
    location = usrloc.register_domain("location")
    location.insert_contact("alice@example.com", "sip:alice@192.0.2.1", info())
    location.insert_contact("alice@other.example", "sip:alice@192.0.2.2", info())
    assert [(r["username"], r["domain"]) for r in rows(db_url)] == [("alice", "example.com"), ("alice", "other.example")]
    again, _ = make_usrloc(db_url, 3, use_domain=1)
    table = again.register_domain("location")
    assert [c.contact for c in table.get_record("alice@other.example").contacts] == ["sip:alice@192.0.2.2"]
    assert table.get_record("alice") is None


def test_column_name_params(tmp_path):
    url = f"sqlite:///{tmp_path}/cols.db"
    db = connect(url)
    for statement in create_statements("sqlite", ["location"]):
        db.execute(statement.replace("username CHAR", "uname CHAR").replace("(username,", "(uname,")
                   .replace("contact CHAR", "binding CHAR").replace(", contact)", ", binding)"))
    usrloc, _ = make_usrloc(url, 3, user_column="uname", contact_column="binding")
    location = usrloc.register_domain("location")
    location.insert_contact("alice", "sip:alice@192.0.2.1", info())
    assert db.select("location", ["uname", "binding"]) == [{"uname": "alice", "binding": "sip:alice@192.0.2.1"}]
    assert location.get_record("alice").contacts[0].contact == "sip:alice@192.0.2.1"
    with pytest.raises(ValueError):
        make_usrloc(url, 3, user_column="user name")


def test_table_version_checked(tmp_path):
    url = f"sqlite:///{tmp_path}/v.db"
    db = connect(url)
    create_database(db, ["location"])
    db.update("version", {"table_version": 1004}, {"table_name": "location"})
    usrloc, _ = make_usrloc(url, 3)
    with pytest.raises(DBError, match="version"):
        usrloc.register_domain("location").get_record("alice")


# -- registrar on top ------------------------------------------------------------
def make_registrar(url: str, mode: int):
    usrloc, core = make_usrloc(url, mode)
    registrar = RegistrarModule(core)
    registrar.init()
    return registrar, core


def save(core, registrar, text):
    ctx = make_ctx(core, text)
    return registrar.save(ctx, "location", "")


def lookup(core, registrar, ruri="sip:alice@example.com"):
    ctx = make_ctx(core, f"""
INVITE {ruri} SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKinv
Max-Forwards: 70
To: <{ruri}>
From: <sip:bob@example.com>;tag=99
Call-ID: call-1
CSeq: 1 INVITE
Content-Length: 0

""")
    return registrar.lookup(ctx, "location", ""), ctx


@pytest.mark.parametrize("mode", [1, 2, 3])
def test_register_then_lookup_after_restart(db_url, mode):
    registrar, core = make_registrar(db_url, mode)
    assert save(core, registrar, register(("<sip:alice@192.0.2.10:5062>",))) == 1
    assert core.last_reply.status == 200
    registrar.usrloc.stop()
    registrar2, core2 = make_registrar(db_url, mode)
    result, ctx = lookup(core2, registrar2)
    assert result == 1
    assert ctx.new_uri == "sip:alice@192.0.2.10:5062"


def test_database_failure_is_500(tmp_path):
    url = f"sqlite:///{tmp_path}/empty.db"  # no location table at all
    for mode in (1, 3):
        registrar, core = make_registrar(url, mode)
        assert save(core, registrar, register()) == 0
        assert core.last_reply.status == 500
        assert core.last_reply.header("P-Registrar-Error") == "usrloc database error"
        assert lookup(core, registrar)[0] == -3


@pytest.mark.integration
def test_mariadb_down_is_500_then_recovers(mariadb):
    db = connect(mariadb.url)
    for statement in drop_statements("mysql"):
        db.execute(statement)
    create_database(db, ["location"])
    registrar, core = make_registrar(mariadb.url, 3)
    mariadb.stop()
    try:
        assert save(core, registrar, register()) == 0
        assert core.last_reply.status == 500
        assert lookup(core, registrar)[0] == -3
    finally:
        mariadb.start()
    assert save(core, registrar, register(cseq=2)) == 1
    assert core.last_reply.status == 200
    assert lookup(core, registrar)[0] == 1
    for statement in drop_statements("mysql"):
        db.execute(statement)
    db.close()


def test_change_hooks_skipped_only_for_plain_memory():
    from opensipsg.modules.usrloc import Contact, ContactInfo, Location, MemoryStorage

    class Recording(MemoryStorage):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[str, Contact]] = []

        def contact_added(self, contact: Contact) -> None:
            self.seen.append(("added", contact))

        def contact_updated(self, contact: Contact) -> None:
            self.seen.append(("updated", contact))

    assert Location("location")._hooked is False
    storage = Recording()
    location = Location("location", storage)
    assert location._hooked is True
    contact = location.insert_contact("a", "sip:a@h", ContactInfo(100, callid="c", cseq=1))
    location.update_contact(location.get_record("a"), contact, ContactInfo(200, callid="c", cseq=2))
    assert [kind for kind, _ in storage.seen] == ["added", "updated"]
    assert storage.seen[1][1].expires == 200 and storage.seen[1][1] is not contact
    assert contact.expires == 200 and contact.cseq == 2
