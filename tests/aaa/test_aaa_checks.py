"""group's aaa_is_user_in and uri's aaa_does_uri_exist / aaa_does_uri_user_exist: the
Access-Requests 1.6 sends, the return codes, and the real thing against FreeRADIUS."""
from __future__ import annotations

import time

import pytest

from opensipsg.aaa.avps import LazyClient, parse_sip_avps
from opensipsg.aaa.radius import AAAError, RadiusReply
from opensipsg.errors import ConfigError
from opensipsg.modules.aaa_radius import AaaRadiusModule
from opensipsg.modules.group import GroupModule
from opensipsg.modules.uri import UriModule
from opensipsg.script.compiler import compile_script
from opensipsg.script.parser import parse_config
from opensipsg.sip.digest import Credentials
from tests.freeradius import dead_udp_port
from tests.modules.conftest import PV, FakeCore, make_ctx

ACCEPT, REJECT = 2, 3


def request(ruri="sip:alice@example.com", from_uri="sip:alice@example.com", to_uri="sip:bob@example.com",
            call_id="chk-1"):
    lines = [
        f"INVITE {ruri} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKchk1",
        "Max-Forwards: 70",
        f"To: <{to_uri}>",
        f"From: <{from_uri}>;tag=456248",
        f"Call-ID: {call_id}",
        "CSeq: 1 INVITE",
        "Content-Length: 0",
    ]
    return "\n" + "\n".join(lines) + "\n\n"


class FakeRadius:
    """Records the attributes of each Access-Request; answers as told."""

    def __init__(self, accepted=True, reply=(), error=None):
        self.sent: list[list[tuple[str, object]]] = []
        self.code = ACCEPT if accepted else REJECT
        self.reply = tuple(reply)
        self.error = error

    def check_attributes(self, names, who):
        pass

    def authenticate(self, attributes):
        self.sent.append(list(attributes))
        if self.error:
            raise AAAError(self.error)
        return RadiusReply(self.code, self.reply)


def group_module(fake=None, **params):
    core = FakeCore()
    core.database = lambda url: None
    mod = GroupModule(core)
    mod.aaa_url = "radius://unused@127.0.0.1"
    for name, value in params.items():
        setattr(mod, name, value)
    mod.init()
    if fake is not None:
        mod.aaa = LazyClient(lambda: fake, "group")
    return mod


def uri_module(fake=None, **params):
    core = FakeCore()
    mod = UriModule(core)
    mod.aaa_url = "radius://unused@127.0.0.1"
    for name, value in params.items():
        setattr(mod, name, value)
    mod.init()
    if fake is not None:
        mod.aaa = LazyClient(lambda: fake, "uri")
    return mod


# -- aaa_is_user_in: the request -------------------------------------------------------------
def test_group_request_attributes_without_domain():
    fake = FakeRadius()
    mod = group_module(fake)
    ctx = make_ctx(mod.core, request())
    assert mod.aaa_is_user_in(ctx, "from", "gold") == 1
    assert fake.sent == [[("User-Name", "alice"), ("Sip-Group", "gold"), ("Service-Type", 12),
                          ("Acct-Session-Id", "chk-1")]]


def test_group_sources_with_domain():
    fake = FakeRadius()
    mod = group_module(fake, use_domain=1)
    ctx = make_ctx(mod.core, request(ruri="sip:carol@r.example.org", to_uri="sip:bob@example.net"))
    assert mod.aaa_is_user_in(ctx, "ruri", "g") == 1
    assert mod.aaa_is_user_in(ctx, "to", "g") == 1
    assert mod.aaa_is_user_in(ctx, PV("sip:dave%40x@pv.example.com"), "g") == 1
    ctx.extra["authorized_credentials"] = Credentials("Digest", "eve", "realm.example.com", "n", "u", "r")
    assert mod.aaa_is_user_in(ctx, "credentials", "g") == 1
    ctx.extra["authorized_credentials"] = Credentials("Digest", "eve@own.example.com", "realm", "n", "u", "r")
    assert mod.aaa_is_user_in(ctx, "credentials", "g") == 1
    assert [attrs[0][1] for attrs in fake.sent] == [
        "carol@r.example.org", "bob@example.net", "dave@x@pv.example.com",
        "eve@realm.example.com", "eve@own.example.com"]


def test_group_codes_without_a_request():
    fake = FakeRadius()
    mod = group_module(fake)
    ctx = make_ctx(mod.core, request(ruri="sip:example.com"))
    assert mod.aaa_is_user_in(ctx, "credentials", "gold") == -4  # no authorized credentials
    assert mod.aaa_is_user_in(ctx, "ruri", "gold") == -1  # no user part
    assert mod.aaa_is_user_in(ctx, PV(None), "gold") == -1
    assert mod.aaa_is_user_in(ctx, PV("not a uri"), "gold") == -1
    assert fake.sent == []


def test_group_reject_and_error_are_minus_12(caplog):
    ctx_text = request()
    mod = group_module(FakeRadius(accepted=False))
    assert mod.aaa_is_user_in(make_ctx(mod.core, ctx_text), "from", "gold") == -12
    mod = group_module(FakeRadius(error="no answer from any RADIUS server"))
    assert mod.aaa_is_user_in(make_ctx(mod.core, ctx_text), "from", "gold") == -12
    assert "no answer from any RADIUS server" in caplog.text


def test_group_bad_aaa_url_is_a_runtime_error_not_a_startup_one(tmp_path, caplog):
    mod = group_module(aaa_url=f"radius://{tmp_path}/missing-secret@127.0.0.1")  # init does not read it
    assert mod.aaa_is_user_in(make_ctx(mod.core, request()), "from", "gold") == -12
    assert "missing-secret" in caplog.text


# -- aaa_does_uri_exist / aaa_does_uri_user_exist: the request ----------------------------------
def test_uri_exist_request_attributes():
    fake = FakeRadius()
    mod = uri_module(fake)
    ctx = make_ctx(mod.core, request(ruri="sip:al%69ce@example.com;transport=udp"))
    assert mod.aaa_does_uri_exist(ctx) == 1
    assert mod.aaa_does_uri_exist(ctx, PV("sip:bob@127.0.0.1:5070")) == 1
    assert fake.sent == [
        [("User-Name", "alice@example.com"), ("Service-Type", 10), ("Acct-Session-Id", "chk-1")],
        [("User-Name", "bob@127.0.0.1"), ("Service-Type", 10), ("Acct-Session-Id", "chk-1")],
    ]


def test_uri_exist_with_sip_uri_host_and_service_type():
    fake = FakeRadius()
    mod = uri_module(fake, use_sip_uri_host=1, service_type=15)
    assert mod.aaa_does_uri_exist(make_ctx(mod.core, request())) == 1
    assert fake.sent == [[("User-Name", "alice"), ("SIP-URI-Host", "example.com"), ("Service-Type", 15),
                          ("Acct-Session-Id", "chk-1")]]


def test_uri_user_exist_request_attributes():
    fake = FakeRadius()
    mod = uri_module(fake, use_sip_uri_host=1)  # not used by aaa_does_uri_user_exist
    ctx = make_ctx(mod.core, request())
    assert mod.aaa_does_uri_user_exist(ctx) == 1
    assert mod.aaa_does_uri_user_exist(ctx, PV("+4930123")) == 1  # the PV holds a user
    assert fake.sent == [
        [("User-Name", "alice"), ("Service-Type", 10), ("Acct-Session-Id", "chk-1")],
        [("User-Name", "+4930123"), ("Service-Type", 10), ("Acct-Session-Id", "chk-1")],
    ]


def test_uri_accept_loads_sip_avps():
    fake = FakeRadius(reply=[("SIP-AVP", "callee:alice"), ("Reply-Message", "hi"), ("SIP-AVP", "#15#7")])
    mod = uri_module(fake)
    ctx = make_ctx(mod.core, request())
    assert mod.aaa_does_uri_exist(ctx) == 1
    assert ctx.avps.get(("s", "callee")) == "alice"
    assert ctx.avps.get(("i", 15)) == 7


def test_uri_codes(caplog):
    mod = uri_module(FakeRadius(accepted=False))
    ctx = make_ctx(mod.core, request())
    assert mod.aaa_does_uri_exist(ctx) == -1
    assert mod.aaa_does_uri_user_exist(ctx) == -1
    mod = uri_module(FakeRadius(error="no answer from any RADIUS server"))
    assert mod.aaa_does_uri_exist(ctx) == -2
    assert mod.aaa_does_uri_user_exist(ctx) == -2
    bad = FakeRadius(reply=[("SIP-AVP", "good:1"), ("SIP-AVP", "malformed")])
    mod = uri_module(bad)
    ctx = make_ctx(mod.core, request())
    assert mod.aaa_does_uri_exist(ctx) == -2
    assert ctx.avps.get(("s", "good")) is None  # all or nothing


def test_uri_codes_without_a_request():
    fake = FakeRadius()
    mod = uri_module(fake)
    ctx = make_ctx(mod.core, request(ruri="sip:example.com"))
    assert mod.aaa_does_uri_exist(ctx) == -1  # no user
    assert mod.aaa_does_uri_user_exist(ctx) == -1
    assert mod.aaa_does_uri_exist(ctx, PV(None)) == -1
    assert mod.aaa_does_uri_exist(ctx, PV("garbage")) == -1
    assert mod.aaa_does_uri_user_exist(ctx, PV("")) == -1
    assert fake.sent == []


def test_sip_uri_host_needs_a_dictionary_entry(tmp_path, caplog):
    secret = tmp_path / "secret"
    secret.write_text("x\n")
    secret.chmod(0o600)
    mod = uri_module(aaa_url=f"radius://{secret}@127.0.0.1:{dead_udp_port()}?timeout=0.2&retries=0",
                     use_sip_uri_host=1)
    started = time.monotonic()
    assert mod.aaa_does_uri_exist(make_ctx(mod.core, request())) == -2
    assert time.monotonic() - started < 0.5  # refused before any packet
    assert "SIP-URI-Host" in caplog.text


def test_parse_sip_avps_is_all_or_nothing():
    assert parse_sip_avps(["a:1", "b#2"]) == [(("s", "a"), "1"), (("s", "b"), 2)]
    with pytest.raises(ValueError):
        parse_sip_avps(["a:1", "bad"])


# -- loading a script: no RADIUS needed, aaa_url required ---------------------------------------
SCRIPT = """
loadmodule "group.so"
loadmodule "uri.so"
{params}
route {{
    if (aaa_is_user_in("From", "gold")) {{ exit; }}
    if (aaa_is_user_in("$avp(s:who)", "gold")) {{ exit; }}
    if (aaa_does_uri_exist() || aaa_does_uri_user_exist("$fU") || aaa_does_uri_exist("$fu")) {{ exit; }}
}}
"""


def load(params):
    from opensipsg.script.loader import load_modules

    core = FakeCore()
    core.database = lambda url: None
    config = parse_config(SCRIPT.format(params=params), "t.cfg")
    modules = load_modules(config, core)
    core.modules = modules
    compile_script(config, core, modules)
    for module in modules.values():
        module.init()
    return modules


def test_script_loads_without_radius(tmp_path):
    url = f"radius:{tmp_path}/no-such-radiusclient.conf"
    modules = load(f'modparam("group", "aaa_url", "{url}")\nmodparam("uri", "aaa_url", "{url}")')
    assert modules["group"].aaa is not None and modules["group"].aaa.opened is None
    assert modules["uri"].aaa is not None and modules["uri"].aaa.opened is None


@pytest.mark.parametrize("missing", ["group", "uri"])
def test_script_without_aaa_url_is_refused(missing):
    other = "uri" if missing == "group" else "group"
    with pytest.raises(ConfigError, match=f"{missing}: .*aaa_url"):
        load(f'modparam("{other}", "aaa_url", "radius://x@127.0.0.1")')


# -- against FreeRADIUS (raddb/users) ---------------------------------------------------------
@pytest.fixture
def live(freeradius_running):
    core = FakeCore()
    core.database = lambda url: None
    radius = AaaRadiusModule(core)
    core.modules = {"aaa_radius": radius}
    url = freeradius_running.aaa_url(timeout=0.5, retries=1)
    group = GroupModule(core)
    group.aaa_url = url
    group.use_domain = 1
    group.init()
    uri = UriModule(core)
    uri.aaa_url = url
    uri.init()
    yield group, uri
    radius.stop()


@pytest.mark.integration
def test_live_group_member_and_not(live):
    group, _ = live
    core = group.core
    ctx = make_ctx(core, request(from_uri="sip:alice@example.com", to_uri="sip:bob@example.com"))
    assert group.aaa_is_user_in(ctx, "from", "gold") == 1
    assert group.aaa_is_user_in(ctx, "from", "silver") == -12  # alice, not in that group
    assert group.aaa_is_user_in(ctx, "to", "gold") == -12  # bob: a user, not a member
    assert group.aaa_is_user_in(ctx, PV("sip:mallory@example.com"), "gold") == -12  # unknown
    group.use_domain = 0
    assert group.aaa_is_user_in(ctx, "from", "gold") == -12  # User-Name "alice" has no entry


@pytest.mark.integration
def test_live_uri_exists_and_sip_avps(live):
    _, uri = live
    ctx = make_ctx(uri.core, request(ruri="sip:alice@example.com"))
    assert uri.aaa_does_uri_exist(ctx) == 1
    assert ctx.avps.get(("s", "callee")) == "alice@example.com"
    assert ctx.avps.get(("i", 15)) == 7
    assert uri.aaa_does_uri_user_exist(ctx) == 1
    assert ctx.avps.get(("s", "callee")) == "alice"
    ctx = make_ctx(uri.core, request(ruri="sip:bob@example.com"))
    assert uri.aaa_does_uri_exist(ctx) == -1  # a user, but no Call-Check entry
    assert uri.aaa_does_uri_exist(ctx, PV("sip:mallory@example.com")) == -1  # unknown
    assert uri.aaa_does_uri_user_exist(ctx, PV("mallory")) == -1
    assert ctx.avps.get(("s", "callee")) is None


@pytest.mark.integration
def test_live_radius_down_is_a_quick_error(live, freeradius_running):
    group, uri = live
    ctx = make_ctx(uri.core, request())
    freeradius_running.stop()
    started = time.monotonic()
    assert group.aaa_is_user_in(ctx, "from", "gold") == -12
    assert uri.aaa_does_uri_exist(ctx) == -2
    assert uri.aaa_does_uri_user_exist(ctx) == -2
    assert time.monotonic() - started < 3 * 1.0 + 1.0  # 0.5 s x 2 tries each
    freeradius_running.start()
    assert group.aaa_is_user_in(ctx, "from", "gold") == 1
    assert uri.aaa_does_uri_exist(ctx) == 1
