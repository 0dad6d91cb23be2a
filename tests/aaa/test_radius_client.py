"""The RADIUS client without a server: dictionary, aaa_url, secrets, request encoding."""
from __future__ import annotations

import os
import socket
import struct
import time

import pytest

from opensipsg.aaa.dictionary import DIGEST_SUBTYPES, dictionary_text, digest_attribute
from opensipsg.aaa.radius import (
    AAAError,
    RadiusClient,
    RadiusConfig,
    RadiusServer,
    load_dictionary,
    parse_aaa_url,
    read_secret_file,
)


def private(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    return path


@pytest.fixture
def secret_file(tmp_path):
    return private(tmp_path / "radius.secret", "s3cret\n")


# -- dictionary ------------------------------------------------------------------------
def test_client_dictionary_has_16_numbers():
    d = load_dictionary()
    numbers = {name: d.attrindex.GetForward(name) for name in (
        "User-Name", "Service-Type", "Acct-Status-Type", "Acct-Session-Id", "Event-Timestamp",
        "Sip-Method", "Sip-Response-Code", "Sip-To-Tag", "Sip-From-Tag", "Sip-Translated-Request-URI",
        "Sip-Source-IP-Address", "Digest-Response", "Digest-Attributes", "Sip-Uri-User", "Sip-Group",
        "Sip-Rpid", "SIP-AVP")}
    assert numbers == {
        "User-Name": 1, "Service-Type": 6, "Acct-Status-Type": 40, "Acct-Session-Id": 44,
        "Event-Timestamp": 55, "Sip-Method": 101, "Sip-Response-Code": 102, "Sip-To-Tag": 104,
        "Sip-From-Tag": 105, "Sip-Translated-Request-URI": 107, "Sip-Source-IP-Address": 108,
        "Digest-Response": 206, "Digest-Attributes": 207, "Sip-Uri-User": 208, "Sip-Group": 211,
        "Sip-Rpid": 213, "SIP-AVP": 225,
    }
    assert d["Event-Timestamp"].type == "integer"
    st = d["Service-Type"].values
    assert struct.unpack("!I", st.GetForward("Sip-Session"))[0] == 15
    assert struct.unpack("!I", st.GetForward("Group-Check"))[0] == 12
    assert struct.unpack("!I", d["Acct-Status-Type"].values.GetForward("Failed"))[0] == 15
    assert struct.unpack("!I", d["Sip-Method"].values.GetForward("Other"))[0] == 16384


def test_server_dictionary_uses_the_same_numbers():
    """raddb/dictionary.opensips renames clashing names but keeps 1.6's numbers."""
    from tests.freeradius import RADDB

    server = load_dictionary(extra=[str(RADDB / "dictionary.opensips")])
    client = load_dictionary()
    pairs = {"OpenSIPS-Sip-Method": "Sip-Method", "OpenSIPS-Sip-Response-Code": "Sip-Response-Code",
             "OpenSIPS-Sip-To-Tag": "Sip-To-Tag", "OpenSIPS-Sip-From-Tag": "Sip-From-Tag",
             "OpenSIPS-Sip-Translated-Request-URI": "Sip-Translated-Request-URI",
             "Sip-Uri-User": "Sip-Uri-User", "Sip-Group": "Sip-Group", "Sip-Rpid": "Sip-Rpid",
             "SIP-AVP": "SIP-AVP"}
    for server_name, client_name in pairs.items():
        assert server.attrindex.GetForward(server_name) == client.attrindex.GetForward(client_name)
    text = (RADDB / "dictionary.opensips").read_text()
    # the names that stop FreeRADIUS (dictionary.columbia_university) are not redefined
    assert "\nATTRIBUTE\tSip-Method" not in text and "Sip-Session\t" not in text


def test_digest_attribute_tlv():
    assert digest_attribute("Digest-Realm", "example.com") == b"\x01\x0dexample.com"
    assert digest_attribute("Digest-User-Name", "alice") == b"\x0a\x07alice"
    assert sorted(DIGEST_SUBTYPES.values()) == list(range(1, 11))
    with pytest.raises(ValueError):
        digest_attribute("Digest-Nonce", "")
    with pytest.raises(ValueError):
        digest_attribute("Digest-URI", "x" * 252)
    assert len(digest_attribute("Digest-URI", "x" * 251)) == 253


def test_radiusclient_ng_dictionary_is_read(tmp_path):
    (tmp_path / "dictionary.sip").write_text(
        "ATTRIBUTE Sip-Method 101 integer\nATTRIBUTE Digest-Realm 1063 string\n"
        "ATTRIBUTE SIP-AVP 225 string\n")
    (tmp_path / "dictionary").write_text(
        "# radiusclient-ng\nATTRIBUTE User-Name 1 string\n$INCLUDE dictionary.sip\n")
    text = dictionary_text(str(tmp_path / "dictionary"))
    assert "Digest-Realm" not in text and "Sip-Method" in text
    d = load_dictionary([str(tmp_path / "dictionary")])
    assert "SIP-AVP" in d and "Digest-Realm" not in d


def test_missing_dictionary_is_a_clear_error(tmp_path):
    with pytest.raises(AAAError, match="cannot read dictionary"):
        load_dictionary([str(tmp_path / "nope")])


# -- secrets -------------------------------------------------------------------------------
def test_secret_file_read(secret_file):
    assert read_secret_file(str(secret_file)) == b"s3cret"


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666])
def test_world_readable_secret_refused(tmp_path, mode):
    path = private(tmp_path / "s", "x\n", mode)
    with pytest.raises(AAAError, match="readable by everyone.*chmod o-rwx"):
        read_secret_file(str(path))


def test_group_readable_secret_accepted(tmp_path):
    assert read_secret_file(str(private(tmp_path / "s", "# c\n\nabc\n", 0o640))) == b"abc"


# -- aaa_url -------------------------------------------------------------------------------
def test_direct_url(secret_file):
    cfg = parse_aaa_url(f"radius://{secret_file}@127.0.0.1:1645,10.0.0.2:1812:1900,radius.example?timeout=2.5&retries=2")
    assert [(s.host, s.auth_port, s.acct_port) for s in cfg.auth_servers] == [
        ("127.0.0.1", 1645, 1646), ("10.0.0.2", 1812, 1900), ("radius.example", 1812, 1813)]
    assert cfg.acct_servers == cfg.auth_servers
    assert cfg.timeout == 2.5 and cfg.retries == 2
    assert all(s.secret == b"s3cret" for s in cfg.auth_servers)
    assert "s3cret" not in repr(cfg)


def test_direct_url_defaults_and_ipv6(secret_file):
    cfg = parse_aaa_url(f"radius://{secret_file}@[::1]")
    assert (cfg.auth_servers[0].host, cfg.auth_servers[0].auth_port, cfg.auth_servers[0].acct_port) == ("::1", 1812, 1813)
    assert (cfg.timeout, cfg.retries) == (3.0, 1)


@pytest.mark.parametrize("url, message", [
    ("mysql://x", "only the radius protocol"),
    ("radius://127.0.0.1:1812", "no secret file"),
    ("radius://{s}@", "no RADIUS server"),
    ("radius://{s}@host:99999", "bad auth port"),
    ("radius://{s}@host?bogus=1", "unknown option"),
    ("radius://{s}@host?timeout=0", "timeout must be"),
    ("radius:", "needs the path"),
])
def test_bad_urls(secret_file, url, message):
    with pytest.raises(AAAError, match=message):
        parse_aaa_url(url.format(s=secret_file))


def test_radiusclient_conf(tmp_path):
    private(tmp_path / "servers", "# host secret\nrad1.example  one\n127.0.0.1:1645 two\n")
    (tmp_path / "dictionary").write_text("ATTRIBUTE User-Name 1 string\n")
    conf = tmp_path / "radiusclient.conf"
    conf.write_text(
        "auth_order radius\nauthserver rad1.example:1812\nauthserver 127.0.0.1:1645\n"
        "acctserver rad1.example:1813\nservers servers\ndictionary /x/dictionary\n"
        "dictionary dictionary\nradius_timeout 2\nradius_retries 4\nseqfile /var/run/radius.seq\n")
    cfg = parse_aaa_url(f"radius:{conf}")
    assert [(s.host, s.auth_port, s.secret) for s in cfg.auth_servers] == [
        ("rad1.example", 1812, b"one"), ("127.0.0.1", 1645, b"two")]
    assert [(s.host, s.acct_port, s.secret) for s in cfg.acct_servers] == [("rad1.example", 1813, b"one")]
    assert (cfg.timeout, cfg.retries) == (2.0, 4)
    assert cfg.dictionaries == (str(tmp_path / "dictionary"),)


def test_radiusclient_conf_defaults_and_errors(tmp_path):
    private(tmp_path / "servers", "localhost s\n", 0o644)
    conf = tmp_path / "radiusclient.conf"
    conf.write_text("authserver localhost\nservers servers\n")
    with pytest.raises(AAAError, match="readable by everyone"):
        parse_aaa_url(f"radius:{conf}")
    os.chmod(tmp_path / "servers", 0o600)
    cfg = parse_aaa_url(f"radius:{conf}")
    assert (cfg.auth_servers[0].auth_port, cfg.timeout, cfg.retries) == (1812, 10.0, 3)
    conf.write_text("authserver other\nservers servers\n")
    with pytest.raises(AAAError, match="no secret for server other"):
        parse_aaa_url(f"radius:{conf}")
    with pytest.raises(AAAError, match="cannot read"):
        parse_aaa_url(f"radius:{tmp_path}/missing.conf")


# -- the client ------------------------------------------------------------------------------
def make_client(timeout=0.2, retries=0, ports=(1812,)):
    servers = tuple(RadiusServer("127.0.0.1", p, p + 1, b"s3cret") for p in ports)
    return RadiusClient(RadiusConfig(servers, servers, timeout, retries, source="test"))


def test_check_attributes():
    client = make_client()
    client.check_attributes(["sip-avp", "Service-Type=Sip-Session"], "t")
    with pytest.raises(AAAError, match="lacks Nope-Attr, Service-Type value Bogus"):
        client.check_attributes(["Nope-Attr", "Service-Type=Bogus", "User-Name"], "t")


def decode_attributes(raw: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 20
    while pos < len(raw):
        code, length = raw[pos], raw[pos + 1]
        out.append((code, raw[pos + 2:pos + length]))
        pos += length
    return out


def test_access_request_encoding_and_message_authenticator():
    client = make_client()
    attrs = [("User-Name", "alice@example.com"),
             ("Digest-Attributes", digest_attribute("Digest-User-Name", "alice")),
             ("Digest-Response", "0123456789abcdef0123456789abcdef"),
             ("Service-Type", "Sip-Session"), ("Acct-Session-Id", "c1"), ("Sip-Uri-User", "")]
    pkt = client.build_auth_packet(attrs)
    raw = pkt.RequestPacket()
    assert raw[0] == 1  # Access-Request
    decoded = decode_attributes(raw)
    codes = [c for c, _ in decoded]
    assert 80 in codes and len(dict(decoded)[80]) == 16  # Message-Authenticator, always
    body = [(c, v) for c, v in decoded if c != 80]
    assert body == [(1, b"alice@example.com"), (207, b"\x0a\x07alice"),
                    (206, b"0123456789abcdef0123456789abcdef"), (6, struct.pack("!I", 15)),
                    (44, b"c1"), (5, struct.pack("!I", 5060)), (4, socket.inet_aton("127.0.0.1"))]
    assert pkt.verify_message_authenticator()


def test_direct_encoding_matches_pyrads():
    """Values the client encodes itself are stored exactly as pyrad's AddAttribute stores them."""
    from collections import OrderedDict

    from pyrad import packet as rpacket

    client = make_client()
    attrs = [("User-Name", "é@example.com"), ("user-name", b"raw"), ("Service-Type", "sip-session"),
             ("Service-Type", 1), ("NAS-Port", "7"), ("Cisco-AVPair", "call-id=c1"), ("SIP-AVP", "a:b"),
             ("Digest-Attributes", digest_attribute("Digest-Realm", "r")), ("Digest-Attributes", b"0xab"),
             ("Sip-Uri-User", "")]
    pkt = client.build_auth_packet(attrs)
    reference = rpacket.AuthPacket(dict=client.dictionary, secret=b"x", authenticator=bytes(16))
    for name, value in attrs:
        if value != "":
            canonical = client.attribute_name(name)
            reference.AddAttribute(canonical, client._value(canonical, value))
    for key, value in (("NAS-Port", 5060), ("NAS-IP-Address", "127.0.0.1")):
        if key not in reference:
            reference.AddAttribute(key, value)
    assert list(OrderedDict.items(pkt)) == list(OrderedDict.items(reference))
    with pytest.raises(AAAError, match="cannot encode"):
        client.build_auth_packet([("Acct-Session-Id", "x" * 254)])
    with pytest.raises(AAAError, match="cannot encode"):
        client.build_auth_packet([("NAS-Port", 2 ** 32)])


def test_access_request_bytes_match_pyrads():
    """The request's own encoder gives pyrad's bytes (plain, vendor-specific, longest values, resends)."""
    from collections import OrderedDict

    from pyrad import packet as rpacket

    client = make_client()
    for attrs in ([("User-Name", "alice"), ("Cisco-AVPair", "call-id=c1"), ("SIP-AVP", "x" * 253)],
                  [("Cisco-AVPair", "y" * 247)], [("Service-Type", 15), ("Service-Type", 1)]):
        pkt = client.build_auth_packet(attrs)
        reference = rpacket.AuthPacket(dict=client.dictionary, secret=pkt.secret, authenticator=pkt.authenticator,
                                       id=pkt.id, message_authenticator=True)
        for key, values in OrderedDict.items(pkt):
            OrderedDict.__setitem__(reference, key, list(values))
        assert type(pkt) is not rpacket.AuthPacket
        assert pkt.RequestPacket() == reference.RequestPacket()
        assert pkt.RequestPacket() == reference.RequestPacket()  # a resend
        assert pkt.verify_message_authenticator()


def test_unknown_attribute_is_an_error():
    with pytest.raises(AAAError, match="not in the dictionary"):
        make_client().build_auth_packet([("Bogus", "x")])
    with pytest.raises(AAAError, match="no value of Service-Type"):
        make_client().build_auth_packet([("Service-Type", "Bogus")])


def test_silent_server_gives_aaa_error_quickly():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        client = make_client(timeout=0.2, retries=1, ports=(port,))
        started = time.monotonic()
        with pytest.raises(AAAError, match="did not answer"):
            client.authenticate([("User-Name", "alice")])
        assert time.monotonic() - started < 1.5
        assert len(silent.recv(4096)) > 20  # it was really sent (twice)
        assert not client.send_accounting([("Acct-Status-Type", "Start")])


def test_an_unpackable_request_is_an_aaa_error_not_a_crash():
    """A vendor attribute of 248-253 octets passes the value check but not the packing (255 in all)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(0.3)
        client = make_client(timeout=2.0, retries=2, ports=(silent.getsockname()[1],))
        started = time.monotonic()
        with pytest.raises(AAAError, match="could not be encoded|cannot encode"):
            client.authenticate([("User-Name", "alice"), ("Cisco-AVPair", "c" * 250)])
        assert time.monotonic() - started < 1.0  # no waiting for a server
        with pytest.raises(socket.timeout):
            silent.recv(4096)  # and nothing was sent


def test_accounting_cuts_an_overlong_text_to_fit(caplog):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        servers = (RadiusServer("127.0.0.1", port - 1, port, b"s3cret"),)
        client = RadiusClient(RadiusConfig(servers, servers, 0.2, 0, source="test"))
        long_id = "x" * 252 + "é" + "z" * 48  # octets 253-254 are the 'é': the cut must not split it
        assert not client.send_accounting([("Acct-Status-Type", "Start"), ("Acct-Session-Id", long_id),
                                           ("Cisco-AVPair", "call-id=" + "y" * 300)])
        attributes = dict(decode_attributes(server.recv(4096)))
    assert attributes[44] == b"x" * 252
    assert "Acct-Session-Id is 302 octets" in caplog.text and "cut to 253" in caplog.text
    vendor = attributes[26]
    assert len(vendor) == 253 and vendor[6:].startswith(b"call-id=yyy")


def test_a_late_answer_to_the_first_try_is_taken_after_the_resend():
    """The client waits in recv() with a timeout: junk is skipped, the first try's reply still counts."""
    import threading

    from pyrad import packet as rpacket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(3.0)
        client = make_client(timeout=0.3, retries=1, ports=(server.getsockname()[1],))

        def serve():
            first, peer = server.recvfrom(4096)
            server.recvfrom(4096)  # the resend, left unanswered
            server.sendto(b"junk", peer)
            request = rpacket.AuthPacket(packet=first, secret=b"s3cret", dict=client.dictionary)
            reply = request.CreateReply()
            reply.code = rpacket.AccessAccept
            server.sendto(reply.ReplyPacket(), peer)

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            assert client.authenticate([("User-Name", "alice")]).accepted
        finally:
            thread.join()
