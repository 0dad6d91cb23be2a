import time

import pytest

from opensipsg.modules.registrar import RegistrarModule, parse_q, parse_save_flags, q_text
from opensipsg.modules.usrloc import Location, UsrlocModule
from opensipsg.registry import REGISTRY

from .conftest import FakeCore, PV, Fmt, make_ctx


@pytest.fixture
def clock(monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    return now


@pytest.fixture
def setup(core, clock):
    usrloc = UsrlocModule(core)
    core.modules = {"usrloc": usrloc}
    usrloc.init()
    registrar = RegistrarModule(core)
    registrar.init()
    return usrloc, registrar


def register(contacts=("<sip:alice@192.0.2.10:5062>",), expires="3600", callid="reg-1", cseq=1,
             to="<sip:alice@example.com>", extra=()):
    lines = [
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKreg" + str(cseq),
        "Max-Forwards: 70",
        f"To: {to}",
        "From: <sip:alice@example.com>;tag=456248",
        f"Call-ID: {callid}",
        f"CSeq: {cseq} REGISTER",
    ]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines += list(extra)
    lines.append("Content-Length: 0")
    return "\n" + "\n".join(lines) + "\n\n"


def save(core, registrar, text, flags="", **kw):
    ctx = make_ctx(core, text, **kw)
    return registrar.save(ctx, "location", flags), ctx


def invite(ruri="sip:alice@example.com", method="INVITE"):
    return f"""
{method} {ruri} SIP/2.0
Via: SIP/2.0/UDP 192.0.2.30:5060;branch=z9hG4bKinv
Max-Forwards: 70
To: <sip:alice@example.com>
From: <sip:bob@example.com>;tag=99
Call-ID: call-1
CSeq: 1 {method}
Content-Length: 0

"""


def test_registered_modules():
    assert REGISTRY.modules["registrar"] is RegistrarModule
    assert REGISTRY.modules["usrloc"] is UsrlocModule
    assert RegistrarModule.functions["save"].min_args == 1


def test_helpers():
    assert parse_q("0.5") == 500
    assert parse_q("1") == 1000
    assert parse_q("1.000") == 1000
    assert parse_q("0") == 0
    assert parse_q("0.125") == 125
    for bad in ("2", "0.5x", "1.5", "", "0.1234"):
        with pytest.raises(ValueError):
            parse_q(bad)
    assert [q_text(q) for q in (1000, 500, 380, 50, 0)] == ["1", "0.5", "0.38", "0.05", "0"]
    flags = parse_save_flags("mrc5fp2v")
    assert flags.memory_only and flags.no_reply and flags.force and flags.path_received
    assert flags.max_contacts == 5 and flags.path_mode == 2
    with pytest.raises(ValueError):
        parse_save_flags("z")


def test_save_new_binding(core, setup, clock):
    usrloc, registrar = setup
    rc, ctx = save(core, registrar, register(extra=("User-Agent: phone/1.0",)))
    assert rc == 1
    reply = core.last_reply
    assert (reply.status, reply.reason) == (200, "OK")
    assert reply.headers == ["Contact: <sip:alice@192.0.2.10:5062>;expires=3600"]
    record = usrloc.get_domain("location").get_record("alice")
    contact = record.contacts[0]
    assert contact.callid == "reg-1" and contact.cseq == 1
    assert contact.user_agent == "phone/1.0"
    assert contact.socket == "udp:10.0.0.1:5060"
    assert core.stats.get("registrar:accepted_regs") == 1
    assert core.stats.get("usrloc:registered_users") == 1
    assert core.stats.get("usrloc:location-contacts") == 1


def test_save_expires_clamped_like_16(core, setup, clock):
    usrloc, registrar = setup
    registrar.max_expires = 1800
    rc, _ = save(core, registrar, register(contacts=("<sip:a@192.0.2.1>;expires=10", "<sip:b@192.0.2.2>"), expires="7200"))
    assert rc == 1
    assert core.last_reply.headers == ["Contact: <sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.2>;expires=1800"]


def test_save_default_expires_and_bad_value(core, setup, clock):
    usrloc, registrar = setup
    save(core, registrar, register(contacts=("<sip:a@192.0.2.1>;expires=abc",), expires=None))
    assert core.last_reply.headers == ["Contact: <sip:a@192.0.2.1>;expires=3600"]


def test_expires_bounds_as_before(setup):
    # _expires bounds the header's expiry once per REGISTER (contacts without parameters take
    # it as it is): the same absolute expiry as the former per-contact bounding, in every case
    from opensipsg.errors import ParseError

    _, registrar = setup
    now = 1000

    class Msg:
        def __init__(self, value):
            self.value = value

        def int_header(self, name):
            if self.value == "bad":
                raise ParseError("bad Expires")
            return self.value

    def before(param, header_value):
        header = now + registrar.default_expires if header_value in (None, "bad") else (
            0 if header_value == 0 else now + header_value)
        if param is None or param == "":
            expires = header
        else:
            text = param.strip()
            value = int(text) if text.isdigit() and len(text) <= 10 else registrar.default_expires
            expires = 0 if value == 0 else now + value
        if expires and expires - now < registrar.min_expires:
            expires = now + registrar.min_expires
        if expires and registrar.max_expires and expires - now > registrar.max_expires:
            expires = now + registrar.max_expires
        return expires

    for registrar.default_expires in (0, 30, 3600):
        for registrar.min_expires in (0, 60):
            for registrar.max_expires in (0, 1800):
                for header_value in (None, "bad", 0, 10, 600, 7200, -5):
                    msg = Msg(header_value)
                    for param in (None, "", "0", "10", " 600 ", "7200", "abc", "12345678901"):
                        got = registrar._expires(msg, now, param) if param else registrar._expires(msg, now)
                        assert got == before(param, header_value), (param, header_value)


def test_q_ordering_and_reply(core, setup, clock):
    usrloc, registrar = setup
    rc, _ = save(core, registrar, register(contacts=("<sip:low@192.0.2.1>;q=0.1", "<sip:high@192.0.2.2>;q=0.9", "<sip:mid@192.0.2.3>;q=0.5")))
    assert rc == 1
    assert core.last_reply.headers == [
        "Contact: <sip:high@192.0.2.2>;q=0.9;expires=3600, <sip:mid@192.0.2.3>;q=0.5;expires=3600, "
        "<sip:low@192.0.2.1>;q=0.1;expires=3600"
    ]


def test_bad_q_is_400_and_returns_0(core, setup, clock):
    usrloc, registrar = setup
    rc, _ = save(core, registrar, register(contacts=("<sip:a@192.0.2.1>;q=7",)))
    assert rc == 0
    reply = core.last_reply
    assert (reply.status, reply.reason) == (400, "Bad Request")
    assert reply.header("P-Registrar-Error") == "Invalid q param in contact"
    assert core.stats.get("registrar:rejected_regs") == 1
    assert usrloc.get_domain("location").get_record("alice") is None


def test_refresh_remove_and_star(core, setup, clock):
    usrloc, registrar = setup
    save(core, registrar, register(contacts=("<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>")))
    clock[0] += 100
    rc, _ = save(core, registrar, register(contacts=("<sip:a@192.0.2.1>;expires=0",), cseq=2))
    assert rc == 1
    assert core.last_reply.headers == ["Contact: <sip:b@192.0.2.2>;expires=3500"]
    # a query (no Contact) lists the bindings
    rc, _ = save(core, registrar, register(contacts=(), cseq=3))
    assert rc == 1 and core.last_reply.headers == ["Contact: <sip:b@192.0.2.2>;expires=3500"]
    # * with Expires: 0 removes everything; the reply has no Contact
    rc, _ = save(core, registrar, register(contacts=("*",), expires="0", cseq=4))
    assert rc == 1
    assert core.last_reply.status == 200 and core.last_reply.headers == []
    assert usrloc.get_domain("location").get_record("alice") is None


def test_star_errors(core, setup, clock):
    usrloc, registrar = setup
    rc, _ = save(core, registrar, register(contacts=("*",), expires="60"))
    assert rc == 0
    assert core.last_reply.header("P-Registrar-Error") == "* used in contact and expires is not zero"
    rc, _ = save(core, registrar, register(contacts=("*", "<sip:a@192.0.2.1>"), expires="0"))
    assert rc == 0
    assert core.last_reply.header("P-Registrar-Error") == "* used in contact and more than 1 contact"


def test_cseq_checks(core, setup, clock):
    usrloc, registrar = setup
    save(core, registrar, register(cseq=5))
    # same Call-ID and CSeq within cseq_delay: a retransmission, binding untouched, 200
    rc, _ = save(core, registrar, register(cseq=5, expires="100"))
    assert rc == 1 and core.last_reply.headers == ["Contact: <sip:alice@192.0.2.10:5062>;expires=3600"]
    # an older CSeq with the same Call-ID is refused
    rc, _ = save(core, registrar, register(cseq=4))
    assert rc == 0 and core.last_reply.status == 400
    assert core.last_reply.header("P-Registrar-Error") == "Invalid CSeq number"
    # same CSeq long after: also refused
    clock[0] += 60
    rc, _ = save(core, registrar, register(cseq=5))
    assert rc == 0
    # a new Call-ID may use any CSeq
    rc, _ = save(core, registrar, register(cseq=1, callid="reg-2", expires="120"))
    assert rc == 1 and core.last_reply.headers == ["Contact: <sip:alice@192.0.2.10:5062>;expires=120"]


def test_max_contacts_503_with_retry_after(core, setup, clock):
    usrloc, registrar = setup
    registrar.max_contacts = 1
    registrar.retry_after = 30
    save(core, registrar, register(contacts=("<sip:a@192.0.2.1>",)))
    rc, _ = save(core, registrar, register(contacts=("<sip:b@192.0.2.2>",), cseq=2))
    assert rc == 0
    reply = core.last_reply
    assert (reply.status, reply.reason) == (503, "Service Unavailable")
    assert reply.header("P-Registrar-Error") == "Too many registered contacts"
    assert reply.header("Retry-After") == "30"
    # replacing the one contact is fine
    rc, _ = save(core, registrar, register(contacts=("<sip:a@192.0.2.1>;expires=0", "<sip:b@192.0.2.2>"), cseq=3))
    assert rc == 1 and core.last_reply.headers == ["Contact: <sip:b@192.0.2.2>;expires=3600"]


def test_max_contacts_flag_and_force(core, setup, clock):
    usrloc, registrar = setup
    rc, _ = save(core, registrar, register(contacts=("<sip:a@192.0.2.1>", "<sip:b@192.0.2.2>")), flags="c1")
    assert rc == 0 and core.last_reply.status == 503
    save(core, registrar, register(contacts=("<sip:a@192.0.2.1>",)), flags="c1")
    clock[0] += 5
    rc, _ = save(core, registrar, register(contacts=("<sip:b@192.0.2.2>",), cseq=2), flags="c1f")
    assert rc == 1
    assert core.last_reply.headers == ["Contact: <sip:b@192.0.2.2>;expires=3600"]


def test_no_reply_flag_and_received(core, setup, clock):
    usrloc, registrar = setup
    registrar.received_avp = "$avp(i:42)"
    registrar.init()
    ctx = make_ctx(core, register())
    ctx.avps.add(("i", 42), "sip:198.51.100.7:4321")
    assert registrar.save(ctx, "location", "r") == 1
    assert core.replies == []
    save(core, registrar, register(contacts=(), cseq=2))
    assert core.last_reply.headers == [
        'Contact: <sip:alice@192.0.2.10:5062>;expires=3600;received="sip:198.51.100.7:4321"'
    ]


def test_bad_to_uri_is_400(core, setup, clock):
    usrloc, registrar = setup
    rc, _ = save(core, registrar, register(to="<tel:+123>"))
    assert rc == 1  # tel: URIs parse; AOR is the number-less user ''
    rc, _ = save(core, registrar, register(contacts=("<sip:a@[::1>",)))
    assert rc == 0 and core.last_reply.status == 400


def test_use_domain_and_case(core, setup, clock):
    usrloc, registrar = setup
    usrloc.use_domain = 1
    registrar.case_sensitive = 0
    save(core, registrar, register(to="<sip:Alice@EXAMPLE.com>"))
    assert usrloc.get_domain("location").get_record("alice@example.com") is not None


def test_save_aor_from_pv(core, setup, clock):
    usrloc, registrar = setup
    ctx = make_ctx(core, register())
    assert registrar.save(ctx, "location", "", PV("sip:other@example.com")) == 1
    assert usrloc.get_domain("location").get_record("other") is not None


def test_path_strict_and_lookup_uses_path(core, setup, clock):
    usrloc, registrar = setup
    path = ("Path: <sip:edge.example.net;lr;received=sip:198.51.100.7:5070>",)
    rc, _ = save(core, registrar, register(extra=path), flags="p2")
    assert rc == 0 and core.last_reply.status == 420
    assert core.last_reply.header("P-Registrar-Error") == "No support for found Path indicated"
    assert core.last_reply.header("Unsupported") == "path"
    assert usrloc.get_domain("location").get_record("alice") is None
    rc, _ = save(core, registrar, register(extra=path + ("Supported: path",)), flags="p2v")
    assert rc == 1
    assert core.last_reply.headers[1] == "Path: <sip:edge.example.net;lr;received=sip:198.51.100.7:5070>"
    assert core.last_reply.headers[0].endswith(';received="sip:198.51.100.7:5070"')
    ctx = make_ctx(core, invite())
    assert registrar.lookup(ctx, "location") == 1
    assert ctx.ruri == "sip:alice@192.0.2.10:5062"
    assert ctx.dst_uri == "sip:edge.example.net;lr;received=sip:198.51.100.7:5070"
    assert ctx.path == "<sip:edge.example.net;lr;received=sip:198.51.100.7:5070>"


def test_lookup(core, setup, clock):
    usrloc, registrar = setup
    ctx = make_ctx(core, register(contacts=("<sip:low@192.0.2.1>;q=0.1", "<sip:high@192.0.2.2;transport=tcp>;q=0.9;received=\"sip:203.0.113.9:1234\""),
                                  extra=("Allow: INVITE, ACK, BYE",)))
    ctx.bflags = 1 << 6
    assert registrar.save(ctx, "location") == 1
    ctx = make_ctx(core, invite())
    assert registrar.lookup(ctx, "location") == 1
    assert ctx.ruri == "sip:high@192.0.2.2;transport=tcp"
    assert ctx.dst_uri == "sip:203.0.113.9:1234"
    assert ctx.q == 900
    assert ctx.bflags == 1 << 6
    assert ctx.force_socket == "udp:10.0.0.1:5060"
    assert [(b.uri, b.q, b.flags) for b in ctx.branches] == [("sip:low@192.0.2.1", 100, 1 << 6)]
    # flag b: no branches
    ctx = make_ctx(core, invite())
    assert registrar.lookup(ctx, "location", "b") == 1
    assert ctx.branches == []
    # method filtering
    ctx = make_ctx(core, invite(method="MESSAGE"))
    assert registrar.lookup(ctx, "location", "m") == -2
    assert registrar.lookup(ctx, "location") == 1
    # not found, bad R-URI
    assert registrar.lookup(make_ctx(core, invite("sip:nobody@example.com")), "location") == -1
    ctx = make_ctx(core, invite())
    ctx.new_uri = "sip:bad@[x"
    assert registrar.lookup(ctx, "location") == -3
    # expired contacts are not used
    clock[0] += 4000
    assert registrar.lookup(make_ctx(core, invite()), "location") == -1


def test_lookup_with_more_contacts_than_branches_keeps_the_first_ones(core, setup, clock, caplog):
    from opensipsg.modules.registrar import MAX_BRANCHES

    usrloc, registrar = setup
    contacts = [f"<sip:phone{n}@192.0.2.{n + 1}>;q=0.{n + 1:02d}" for n in range(MAX_BRANCHES + 2)]
    assert registrar.save(make_ctx(core, register(contacts=contacts)), "location", "") == 1
    ctx = make_ctx(core, invite())
    assert registrar.lookup(ctx, "location") == 1
    assert len(ctx.branches) == MAX_BRANCHES - 1  # the R-URI plus the branches: MAX_BRANCHES in all
    assert "too many branches for AOR <sip:alice@example.com>" in caplog.text


def test_lookup_aor_pv(core, setup, clock):
    usrloc, registrar = setup
    save(core, registrar, register())
    ctx = make_ctx(core, invite("sip:someone@example.com"))
    assert registrar.lookup(ctx, "location", "", PV("sip:alice@example.com")) == 1
    assert ctx.ruri == "sip:alice@192.0.2.10:5062"


def test_registered(core, setup, clock):
    usrloc, registrar = setup
    save(core, registrar, register())
    assert registrar.registered(make_ctx(core, invite()), "location") == 1
    assert registrar.registered(make_ctx(core, invite()), "location", Fmt("sip:bob@example.com")) == -1
    assert registrar.registered(make_ctx(core, invite()), "location", Fmt("sip:alice@example.com"), Fmt("reg-1")) == 1
    assert registrar.registered(make_ctx(core, invite()), "location", Fmt("sip:alice@example.com"), Fmt("other")) == -1


def test_add_sock_hdr_and_s_flag(core, setup, clock):
    usrloc, registrar = setup
    registrar.sock_hdr_name = "Sock-Info"
    ctx = make_ctx(core, register())
    assert registrar.add_sock_hdr(ctx, "Sock-Info") == 1
    assert ctx.msg.get("sock-info") == "udp:10.0.0.1:5060"
    ctx = make_ctx(core, register(extra=("Sock-Info: tcp:proxy.example.com:5060",)))
    assert registrar.save(ctx, "location", "s") == 1
    contact = usrloc.get_domain("location").get_record("alice").contacts[0]
    assert contact.socket == "tcp:proxy.example.com:5060"


def test_usrloc_expire_and_stats(core, setup, clock):
    usrloc, registrar = setup
    save(core, registrar, register(contacts=("<sip:a@192.0.2.1>;expires=100", "<sip:b@192.0.2.2>")))
    assert core.stats.get("usrloc:location-contacts") == 2
    assert usrloc.expire(clock[0] + 200) == 1
    assert core.stats.get("usrloc:location-expires") == 1
    assert usrloc.expire(clock[0] + 4000) == 1
    assert core.stats.get("usrloc:location-users") == 0
    assert core.stats.get("usrloc:registered_users") == 0


def test_usrloc_desc_time_order_and_callid_matching():
    location = Location("location", desc_time_order=True)
    from opensipsg.modules.usrloc import FOUND, NOT_FOUND, ContactInfo

    location.insert_contact("a", "sip:1@x", ContactInfo(expires=100, q=1000, callid="c1", cseq=1))
    location.insert_contact("a", "sip:2@x", ContactInfo(expires=100, q=0, callid="c2", cseq=1))
    record = location.get_record("a")
    assert [c.contact for c in record.contacts] == ["sip:2@x", "sip:1@x"]
    callid_mode = Location("location", matching_mode=1)
    callid_mode.insert_contact("a", "sip:1@x", ContactInfo(expires=100, callid="c1", cseq=1))
    rec = callid_mode.get_record("a")
    assert callid_mode.get_contact(rec, "sip:1@x", "c2", 1, 0)[0] == NOT_FOUND
    assert callid_mode.get_contact(rec, "sip:1@x", "c1", 2, 0)[0] == FOUND


def test_usrloc_contact_takes_every_contact_info_field():
    # Contact.from_info/update, Location.insert_contact/update_contact copy the fields one
    # by one: a new field must not be forgotten
    import dataclasses

    from opensipsg.modules.usrloc import Contact, ContactInfo

    names = [f.name for f in dataclasses.fields(ContactInfo)]
    info = ContactInfo(**{name: f"v-{name}" for name in names})
    fresh = Contact.from_info("aor", "sip:1@x", info)
    updated = Contact("aor", "sip:1@x", 0)
    updated.update(info)
    location = Location("location")
    inserted = location.insert_contact("aor", "sip:1@x", info)
    refreshed = location.insert_contact("aor2", "sip:1@x", ContactInfo(0))
    location.update_contact(location.get_record("aor2"), refreshed, info)
    refreshed.aor = "aor"
    for contact in (fresh, updated, inserted, refreshed):
        assert {name: getattr(contact, name) for name in names} == {name: f"v-{name}" for name in names}
        assert (contact.aor, contact.contact) == ("aor", "sip:1@x")


def test_usrloc_timer_greenlet(core):
    gevent = pytest.importorskip("gevent")
    usrloc = UsrlocModule(core)
    usrloc.set_param("timer_interval", 1)
    usrloc.init()
    calls = []
    usrloc.expire = lambda now: calls.append(now) or 0
    usrloc.timer_interval = 0.01
    usrloc.start()
    gevent.sleep(0.05)
    usrloc.stop()
    assert calls


def test_missing_usrloc():
    registrar = RegistrarModule(FakeCore())
    with pytest.raises(ValueError):
        registrar.init()



def test_binding_socket_from_the_listener_name(core, setup):
    # the receiving listener's name stands for the socket text when the context is on it
    from opensipsg.core import Listener

    usrloc, registrar = setup
    for listener, user in ((Listener("udp", "10.0.0.1", 5060, "10.0.0.1", 5060), "alice"),
                           (Listener("udp", "10.0.0.2", 5060, "10.0.0.2", 5060), "bob")):
        rc, _ = save(core, registrar, register(contacts=(f"<sip:{user}@192.0.2.10:5062>",),
                                               to=f"<sip:{user}@example.com>"),
                     proto="udp", listener=listener)
        assert rc == 1
        contact = usrloc.get_domain("location").get_record(user).contacts[0]
        assert contact.socket == "udp:10.0.0.1:5060"


def test_refresh_skips_parsing_a_contact_uri_save_parsed(core, setup, clock, monkeypatch):
    # a binding save() made is marked uri_checked: refreshing it does not parse its URI again
    import opensipsg.modules.registrar as registrar_module

    usrloc, registrar = setup
    assert save(core, registrar, register())[0] == 1
    binding = usrloc.get_domain("location").get_record("alice").contacts[0]
    assert binding.uri_checked
    parsed = []
    real = registrar_module.parse_uri
    monkeypatch.setattr(registrar_module, "parse_uri", lambda text: parsed.append(text) or real(text))
    assert save(core, registrar, register(callid="reg-2"))[0] == 1
    assert parsed == []  # neither the AOR (record.aor_uri) nor the Contact
    assert save(core, registrar, register(contacts=("<sip:alice@192.0.2.11>",), callid="reg-3"))[0] == 1
    assert parsed == ["sip:alice@192.0.2.11"]
    # another To text for the same AOR (the record's text differs) is parsed, then remembered
    del parsed[:]
    assert save(core, registrar, register(callid="reg-4", to="<sip:alice@Example.COM>"))[0] == 1
    assert parsed == ["sip:alice@Example.COM"]
    record = usrloc.get_domain("location").get_record("alice")
    assert record.aor_uri == "sip:alice@Example.COM" and len(record.contacts) == 2


def test_a_binding_save_did_not_make_has_its_uri_checked_again(core, setup, clock):
    # ul_add (MI) stores any text: a REGISTER with the same bad Contact URI is refused, as in 1.6
    from opensipsg.modules.usrloc import ContactInfo

    usrloc, registrar = setup
    bad = "sip:alice@192.0.2.10:99999"
    usrloc.register_domain("location").insert_contact("alice", bad, ContactInfo(clock[0] + 100, callid="mi"))
    assert save(core, registrar, register(contacts=(f"<{bad}>",)))[0] == 0
    assert core.last_reply.header("P-Registrar-Error") == "Contact parse error"


def test_contact_errors_come_before_aor_errors(core, setup, clock):
    usrloc, registrar = setup
    bad_to = "<sip:alice@example.com:99999>"
    assert save(core, registrar, register(contacts=("<sip:alice@192.0.2.10:99999>",), to=bad_to))[0] == 0
    assert core.last_reply.header("P-Registrar-Error") == "Contact parse error"
    assert save(core, registrar, register(to=bad_to))[0] == 0
    assert core.last_reply.header("P-Registrar-Error") == "Error while parsing AOR"
