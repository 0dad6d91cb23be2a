"""tests/data/cfg/book.cfg loaded for real: the real modules, a SQLite database with
subscribers and usr_preferences, messages run through the compiled script and what
the Core sends recorded instead of put on the wire (Core.__init__ binds nothing)."""
from __future__ import annotations

import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from opensipsg.core import Core
from opensipsg.db import connect
from opensipsg.db.schema import create_database
from opensipsg.registry import RouteType
from opensipsg.script.context import RouteContext
from opensipsg.script.parser import parse_config
from opensipsg.sip.message import parse
from tests.auth.helpers import add_subscriber, authorization

ROOT = Path(__file__).resolve().parent.parent.parent
BOOK = ROOT / "tests" / "data" / "cfg" / "book.cfg"
DOMAIN = "sip.example.com"


class Recorder:
    """A transport that keeps what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int]] = []

    def send(self, data: bytes, ip: str, port: int, conn: object = None) -> bool:
        self.sent.append((data.decode("utf-8", "replace"), ip, port))
        return True

    def stop(self) -> None:
        pass


def book_text(db_path: Path, fifo: Path) -> str:
    text = BOOK.read_text()
    text = re.sub(r"(?m)^listen=.*\n", "", text)
    text = text.replace("disable_tcp=no\n", "disable_tcp=no\nlisten=udp:127.0.0.1:5060\nlisten=tcp:127.0.0.1:5060\n")
    assert "mysql://opensips:opensipsrw@localhost/opensips" in text
    text = text.replace("mysql://opensips:opensipsrw@localhost/opensips", f"sqlite:///{db_path}")
    return text.replace("/tmp/opensips_fifo", str(fifo))


@pytest.fixture
def book(tmp_path):
    db_path = tmp_path / "book.db"
    db = connect(f"sqlite:///{db_path}")
    create_database(db)
    add_subscriber(db, "alice", DOMAIN, "alicepw")
    add_subscriber(db, "carol", DOMAIN, "carolpw")
    for user, attribute, kind, value in [
        ("carol", "fwd_uri", 0, "sip:carol-cell@192.0.2.50:5090"),
        ("carol", "color", 0, "blue"),          # another preference: not loaded
        ("dave", "700", 2, "sip:x@192.0.2.99"),  # integer name: not s:fwd_uri
    ]:
        db.insert("usr_preferences", {"username": user, "domain": DOMAIN, "attribute": attribute,
                                      "type": kind, "value": value})
    core = Core(parse_config(book_text(db_path, tmp_path / "fifo"), str(BOOK)))
    recorder = Recorder()
    for listener in core.listeners:
        core.transports[listener.name] = recorder
    core.recorder = recorder  # type: ignore[attr-defined]
    yield core
    core.stop()
    db.close()


def run(core, raw: str, src_ip: str = "192.168.1.5", src_port: int = 5062, proto: str = "udp"):
    msg = parse(raw.replace("\n", "\r\n").encode())
    listener = next(item for item in core.listeners if item.proto == proto)
    ctx = RouteContext(core, msg, RouteType.REQUEST, src_ip=src_ip, src_port=src_port, proto=proto,
                       local_ip=listener.host, local_port=listener.port, listener=listener)
    ctx.extra["conn"] = None
    core.recorder.sent.clear()
    rc = core.script.run("request", "0", ctx)
    return ctx, rc


def sent(core, start: str) -> list[tuple[str, str, int]]:
    return [item for item in core.recorder.sent if item[0].startswith(start)]


def header(message: str, name: str) -> str | None:
    for line in message.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return None


def request(method: str, ruri: str, from_user: str = "bob", from_domain: str = "192.168.1.5",
            extra: str = "", max_forwards: int = 70, call_id: str = "c1", src: str = "192.168.1.5:5062") -> str:
    # a REGISTER's To is the address of record: the From here
    to = f"sip:{from_user}@{from_domain}" if method == "REGISTER" else ruri.split(";")[0]
    return (f"{method} {ruri} SIP/2.0\n"
            f"Via: SIP/2.0/UDP {src};branch=z9hG4bK-{call_id}\n"
            f"Max-Forwards: {max_forwards}\n"
            f"From: <sip:{from_user}@{from_domain}>;tag=ft-{call_id}\n"
            f"To: <{to}>\n"
            f"Call-ID: {call_id}@test\n"
            f"CSeq: 1 {method}\n"
            f"Contact: <sip:{from_user}@{src}>\n"
            + extra +
            "Content-Length: 0\n\n")


def test_opensipsg_check_accepts_the_book_config():
    result = subprocess.run([sys.executable, "-m", "opensipsg", "-c", "-f", str(BOOK)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "config file ok" in result.stderr


def test_forwarding_from_usr_preferences_rewrites_the_ruri(book, caplog):
    with caplog.at_level(logging.INFO):
        ctx, rc = run(book, request("INVITE", f"sip:carol@{DOMAIN}", call_id="fwd"))
    assert rc == 0
    assert ctx.ruri == "sip:carol-cell@192.0.2.50:5090"
    assert ctx.avps.get(("s", "fwd_uri")) == "sip:carol-cell@192.0.2.50:5090"
    assert ctx.avps.get(("s", "color")) is None
    invites = sent(book, "INVITE ")
    assert len(invites) == 1
    text, ip, port = invites[0]
    assert text.startswith("INVITE sip:carol-cell@192.0.2.50:5090 SIP/2.0\r\n")
    assert (ip, port) == ("192.0.2.50", 5090)
    assert header(text, "Record-Route") is not None
    # $(ru{uri.user}) is read after the rewrite, as in 1.6
    assert "forwarding carol-cell to sip:carol-cell@192.0.2.50:5090" in caplog.text
    assert ctx.flags & (1 << 1)  # setflag(1) for INVITEs (acc)


def test_no_forwarding_and_not_registered_is_404(book):
    ctx, rc = run(book, request("INVITE", f"sip:dave@{DOMAIN}", call_id="nf"))
    assert rc == 0
    assert ctx.avps.get(("s", "fwd_uri")) is None
    assert ctx.avps.get(("i", 700)) is None  # dave's row has an integer name
    replies = sent(book, "SIP/2.0 404")
    assert len(replies) == 1 and replies[0][0].startswith("SIP/2.0 404 Not Found\r\n")
    assert sent(book, "INVITE ") == []


def test_register_without_credentials_is_challenged(book):
    ctx, rc = run(book, request("REGISTER", f"sip:{DOMAIN}", "alice", DOMAIN, call_id="r1",
                                extra="Expires: 3600\n"), src_ip="203.0.113.9")
    assert rc == 0
    (reply, ip, port), = sent(book, "SIP/2.0 401")
    assert (ip, port) == ("192.168.1.5", 5062)  # the Via
    challenge = header(reply, "WWW-Authenticate")
    assert challenge is not None and challenge.startswith("Digest ")
    assert f'realm="{DOMAIN}"' in challenge
    assert header(reply, "Record-Route") is None


def test_register_with_credentials_then_call_reaches_the_contact(book):
    raw = request("REGISTER", f"sip:{DOMAIN}", "alice", DOMAIN, call_id="r2", extra="Expires: 3600\n")
    run(book, raw, src_ip="203.0.113.9")
    (reply, _, _), = sent(book, "SIP/2.0 401")
    auth = authorization(header(reply, "WWW-Authenticate"), "alice", "alicepw", "REGISTER", f"sip:{DOMAIN}")
    raw = request("REGISTER", f"sip:{DOMAIN}", "alice", DOMAIN, call_id="r2",
                  extra=f"Expires: 3600\n{auth}\n", src="192.0.2.10:5062")
    ctx, rc = run(book, raw, src_ip="192.0.2.10")
    ok = sent(book, "SIP/2.0 200")
    assert len(ok) == 1, book.recorder.sent
    assert "sip:alice@192.0.2.10:5062" in (header(ok[0][0], "Contact") or "")
    # a call to alice (no forwarding preference) is relayed to the registered contact
    ctx, rc = run(book, request("INVITE", f"sip:alice@{DOMAIN}", call_id="call-a"))
    invites = sent(book, "INVITE ")
    assert len(invites) == 1, book.recorder.sent
    text, ip, port = invites[0]
    assert text.startswith("INVITE sip:alice@192.0.2.10:5062 SIP/2.0")
    assert (ip, port) == ("192.0.2.10", 5062)
    # voicemail destination for the failure route, and the missed-call flag
    assert ctx.avps.get(("i", 700)) == "sip:vm@192.168.1.20:5060"
    assert ctx.flags & (1 << 2)


def test_untrusted_caller_from_our_domain_must_authenticate(book):
    ctx, rc = run(book, request("INVITE", f"sip:carol@{DOMAIN}", "alice", DOMAIN, call_id="pa"),
                  src_ip="203.0.113.9")
    assert rc == 0
    (reply, _, _), = sent(book, "SIP/2.0 407")
    assert header(reply, "Proxy-Authenticate").startswith("Digest ")
    assert ctx.ruri == f"sip:carol@{DOMAIN}"  # stopped before the forwarding lookup
    assert sent(book, "INVITE ") == []


def test_too_many_hops(book):
    ctx, rc = run(book, request("INVITE", f"sip:carol@{DOMAIN}", call_id="mf", max_forwards=0))
    (reply, _, _), = sent(book, "SIP/2.0 483")
    assert reply.startswith("SIP/2.0 483 Too Many Hops")


def test_pstn_numbers_go_to_the_gateway(book):
    ctx, rc = run(book, request("INVITE", f"sip:+4930123456@{DOMAIN}", call_id="pstn"))
    assert ctx.ruri == "sip:004930123456@192.168.1.30:5060"
    (text, ip, port), = sent(book, "INVITE ")
    assert text.startswith("INVITE sip:004930123456@192.168.1.30:5060 SIP/2.0")
    assert (ip, port) == ("192.168.1.30", 5060)


def test_foreign_domains_are_relayed_with_a_hint(book):
    ctx, rc = run(book, request("INVITE", "sip:someone@198.51.100.7", call_id="out"))
    (text, ip, port), = sent(book, "INVITE ")
    assert (ip, port) == ("198.51.100.7", 5060)
    assert header(text, "P-hint") == "outbound"
