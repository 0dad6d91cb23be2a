import pytest

from opensipsg.modules.auth import AuthModule
from opensipsg.modules.auth_db import AuthDbModule, parse_load_credentials
from opensipsg.sip.digest import parse_challenge
from tests.auth.helpers import add_subscriber, authorization, make_db, md5

from .conftest import Fmt, make_ctx

URI = "sip:example.com"


def register(extra=(), to="sip:alice@example.com", method="REGISTER", body=""):
    lines = [
        f"{method} {URI} SIP/2.0",
        "Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKreg1",
        "Max-Forwards: 70",
        f"To: <{to}>",
        f"From: <{to}>;tag=456248",
        "Call-ID: reg-1",
        f"CSeq: 1 {method}",
        *extra,
        "Content-Length: 0",
    ]
    return "\n" + "\n".join(lines) + "\n\n" + body


class Setup:
    def __init__(self, core, tmp_path, **params):
        self.core = core
        self.db = make_db(tmp_path / "auth.db", ["subscriber", "uri"])
        core.database = lambda url: self.db
        self.auth = AuthModule(core)
        self.auth.secret = "k"
        self.now = [1_000_000.0]
        core.modules = {"auth": self.auth}
        self.auth.init()
        self.auth.clock = lambda: self.now[0]
        self.auth_db = AuthDbModule(core)
        self.auth_db.db_url = "sqlite:///x"
        for name, value in params.items():
            setattr(self.auth_db, name, value)
        self.auth_db.init()
        core.modules["auth_db"] = self.auth_db

    def challenge(self, realm="", qop=0, proxy=False, text=None):
        ctx = make_ctx(self.core, text or register())
        if proxy:
            self.auth.proxy_challenge(ctx, Fmt(realm), qop)
            return self.core.last_reply.header("Proxy-Authenticate")
        self.auth.www_challenge(ctx, Fmt(realm), qop)
        return self.core.last_reply.header("WWW-Authenticate")

    def authorize(self, header_line, realm="", proxy=False, method="REGISTER", body=""):
        ctx = make_ctx(self.core, register([header_line], method=method, body=body))
        fn = self.auth_db.proxy_authorize if proxy else self.auth_db.www_authorize
        return fn(ctx, Fmt(realm), "subscriber"), ctx


@pytest.fixture
def s(core, tmp_path):
    setup = Setup(core, tmp_path)
    add_subscriber(setup.db, "alice", "example.com", "secret", rpid="+4930111")
    add_subscriber(setup.db, "alice", "other.org", "other-pw")
    return setup


def test_right_password_no_qop(s):
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    code, ctx = s.authorize(line)
    assert code == 1
    assert ctx.extra["authorized_credentials"].username == "alice"
    assert ctx.avps.get(("s", "rpid")) == "+4930111"


def test_right_password_qop_and_nc(s):
    challenge = s.challenge(qop=1)
    assert parse_challenge(challenge)["qop"] == "auth"
    assert s.authorize(authorization(challenge, "alice", "secret", "REGISTER", URI))[0] == 1
    # same nc again: replay
    code, ctx = s.authorize(authorization(challenge, "alice", "secret", "REGISTER", URI))
    assert code == -3
    assert ctx.extra["auth_stale"] == {"authorization"}
    # the next nc on the same nonce is fine
    assert s.authorize(authorization(challenge, "alice", "secret", "REGISTER", URI, nc="00000002"))[0] == 1


def test_replay_without_qop_then_stale_challenge(s):
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    assert s.authorize(line)[0] == 1
    code, ctx = s.authorize(line)
    assert code == -3
    s.auth.www_challenge(ctx, Fmt(""), 0)
    assert parse_challenge(s.core.last_reply.header("WWW-Authenticate"))["stale"] == "true"


def test_same_message_checked_twice(s):
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    code, ctx = s.authorize(line)
    assert code == 1
    assert s.auth_db.www_authorize(ctx, Fmt(""), "subscriber") == 1


def test_wrong_password_unknown_user_no_credentials(s):
    challenge = s.challenge()
    assert s.authorize(authorization(challenge, "alice", "wrong", "REGISTER", URI))[0] == -2
    assert s.authorize(authorization(challenge, "nobody", "secret", "REGISTER", URI))[0] == -1
    code, ctx = s.authorize("X-Other: 1")
    assert code == -4
    # credentials for another realm are ignored
    other = authorization(challenge, "alice", "secret", "REGISTER", URI, realm="elsewhere.net")
    assert s.authorize(other)[0] == -4
    # a wrong password does not spend the nonce
    assert s.authorize(authorization(challenge, "alice", "secret", "REGISTER", URI))[0] == 1


def test_expired_nonce_is_stale(s):
    challenge = s.challenge()
    s.now[0] += 31
    code, ctx = s.authorize(authorization(challenge, "alice", "secret", "REGISTER", URI))
    assert code == -3
    # wrong password with an old nonce: -2 first (1.6 order)
    assert s.authorize(authorization(challenge, "alice", "bad", "REGISTER", URI))[0] == -2


def test_forged_nonce_is_stale_before_user_lookup(s):
    challenge = s.challenge()
    forged = "0" * 80
    line = authorization(challenge, "nobody", "x", "REGISTER", URI, nonce=forged)
    assert s.authorize(line)[0] == -3


def test_malformed_credentials_400_and_stop(s):
    code, _ = s.authorize('Authorization: Digest username="alice", realm="example.com"')
    assert code == 0
    assert s.core.last_reply.status == 400
    code, _ = s.authorize('Authorization: Digest username="alice", realm="example.com", nonce="n", '
                          'uri="u", response="r", qop=auth')
    assert code == 0


def test_ack_and_cancel_always_authorized(s):
    ctx = make_ctx(s.core, register(method="ACK"))
    assert s.auth_db.proxy_authorize(ctx, Fmt(""), "subscriber") == 1


def test_ha1b_with_user_at_domain(core, tmp_path):
    s = Setup(core, tmp_path, use_domain=1)
    add_subscriber(s.db, "alice", "example.com", "secret")
    add_subscriber(s.db, "alice", "other.org", "other-pw")
    challenge = s.challenge()
    # username alice@other.org in realm example.com: ha1b of other.org's row
    line = authorization(challenge, "alice@other.org", "other-pw", "REGISTER", URI, realm="example.com")
    # the UA computes MD5(alice@other.org:example.com:pw); ha1b is MD5(alice@other.org:other.org:pw)
    assert s.authorize(line)[0] == -2
    s.db.update("subscriber", {"ha1b": md5("alice@other.org:example.com:other-pw")},
                {"username": "alice", "domain": "other.org"})
    code, ctx = s.authorize(line)
    assert code == 1
    # a plain username in the same realm uses ha1 of the realm's row
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    assert s.authorize(line)[0] == 1


def test_two_domains_use_domain(core, tmp_path):
    s = Setup(core, tmp_path, use_domain=1)
    add_subscriber(s.db, "alice", "example.com", "secret")
    add_subscriber(s.db, "alice", "other.org", "other-pw")
    line = authorization(s.challenge("other.org"), "alice", "other-pw", "REGISTER", URI)
    assert s.authorize(line, realm="other.org")[0] == 1
    line = authorization(s.challenge("other.org"), "alice", "secret", "REGISTER", URI)
    assert s.authorize(line, realm="other.org")[0] == -2


def test_calculate_ha1_from_plain_password(core, tmp_path):
    s = Setup(core, tmp_path, calculate_ha1=1, password_column="password")
    add_subscriber(s.db, "bob", "example.com", "pw")
    s.db.update("subscriber", {"ha1": "", "ha1b": ""}, {"username": "bob"})
    line = authorization(s.challenge(), "bob", "pw", "REGISTER", URI)
    assert s.authorize(line)[0] == 1


def test_sql_metacharacters_verbatim(core, tmp_path):
    s = Setup(core, tmp_path)
    nasty = "x' OR '1'='1"
    add_subscriber(s.db, nasty, "example.com", "pw")
    add_subscriber(s.db, "victim", "example.com", "victim-pw")
    line = authorization(s.challenge(), nasty, "pw", "REGISTER", URI)
    assert s.authorize(line)[0] == 1
    line = authorization(s.challenge(), "victim' --", "victim-pw", "REGISTER", URI)
    assert s.authorize(line)[0] == -1
    line = authorization(s.challenge(), "%", "victim-pw", "REGISTER", URI)
    assert s.authorize(line)[0] == -1
    assert len(s.db.select("subscriber", ["username"], {})) == 2


def test_proxy_authorize_and_consume(s):
    challenge = s.challenge(proxy=True, text=register(method="INVITE"))
    line = authorization(challenge, "alice", "secret", "INVITE", URI, header="Proxy-Authorization")
    code, ctx = s.authorize(line, proxy=True, method="INVITE")
    assert code == 1
    assert s.auth.consume_credentials(ctx) == 1
    assert not ctx.msg.has("proxy-authorization")
    assert s.auth.consume_credentials(ctx) == -1


def test_auth_int(s):
    challenge = s.challenge()
    body = "hello"
    line = authorization(challenge, "alice", "secret", "MESSAGE", URI, qop=True, body=body.encode())
    line = line.replace("qop=auth,", "qop=auth-int,")
    # recompute for auth-int
    from opensipsg.sip import digest
    params = parse_challenge(challenge)
    ha1 = digest.ha1("alice", "example.com", "secret")
    good = digest.response(ha1, params["nonce"], "MESSAGE", URI, "auth-int", "00000001", "0a4f113b", body.encode())
    import re
    line = re.sub(r'response="[0-9a-f]+"', f'response="{good}"', line)
    assert s.authorize(line, method="MESSAGE", body=body)[0] == 1


def test_database_failure_500_and_stop(s, caplog):
    s.db.execute("DROP TABLE subscriber")
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    code, _ = s.authorize(line)
    assert code == 0
    assert s.core.last_reply.status == 500
    assert any(r.levelname == "ERROR" and "database error" in r.message for r in caplog.records)


def test_load_credentials_parse():
    assert parse_load_credentials("$avp(i:1)=rpid;email_address") == [
        (("i", 1), "rpid"), (("s", "email_address"), "email_address")]
    assert parse_load_credentials("") == []
    with pytest.raises(ValueError):
        parse_load_credentials("rp id")


def test_load_credentials_into_avps(core, tmp_path):
    s = Setup(core, tmp_path, load_credentials="$avp(i:13)=rpid;email_address")
    add_subscriber(s.db, "carol", "example.com", "pw", rpid="123", email_address="c@example.com")
    code, ctx = s.authorize(authorization(s.challenge(), "carol", "pw", "REGISTER", URI))
    assert code == 1
    assert ctx.avps.get(("i", 13)) == "123"
    assert ctx.avps.get(("s", "email_address")) == "c@example.com"


def test_consume_credentials_keeps_the_other_realms_header(s):
    """Two credentials headers: only the authorized one goes, the other stays in place."""
    other = 'Authorization: Digest username="bob", realm="else.net", nonce="n", uri="sip:else.net", response="r"'
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    ctx = make_ctx(s.core, register([other, line]))
    assert s.auth_db.www_authorize(ctx, Fmt(""), "subscriber") == 1
    assert ctx.msg.to.uri.host == "example.com"
    assert s.auth.consume_credentials(ctx) == 1
    assert ctx.msg.get_all("authorization") == [other.partition(": ")[2]]
    assert ctx.msg.to.uri.host == "example.com"


def test_consume_credentials_single_header(s):
    line = authorization(s.challenge(), "alice", "secret", "REGISTER", URI)
    code, ctx = s.authorize(line)
    assert code == 1
    to = ctx.msg.to
    assert s.auth.consume_credentials(ctx) == 1
    assert not ctx.msg.has("authorization")
    assert ctx.msg.to is to  # the other headers' parsed views are kept
