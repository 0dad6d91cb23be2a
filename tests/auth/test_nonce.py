import pytest

from opensipsg.auth.digest import check_response, credentials_problem, split_username
from opensipsg.auth.nonce import NONCE_LEN, NonceManager, NonceStatus
from opensipsg.sip import digest


def test_issue_and_verify():
    nm = NonceManager("s3cret", expire=30)
    nonce = nm.issue(1000)
    assert len(nonce) == NONCE_LEN
    assert nm.verify(nonce)
    assert nm.expires(nonce) == 1030
    assert not NonceManager("other", 30).verify(nonce)
    tampered = f"{1030 + 3600:08x}" + nonce[8:]
    assert not nm.verify(tampered)
    assert not nm.verify(nonce.upper())
    assert not nm.verify("abc")
    assert not nm.verify(nonce[:16] + nonce[16:].upper())
    assert not nm.verify(nonce[:16] + "\u00e9" * 64)  # non-ASCII: refused, not an error
    assert not nm.verify("g" + nonce[1:])
    assert nm.issue(1000) != nonce


def test_single_use_without_qop():
    nm = NonceManager("k", 30)
    nonce = nm.issue(1000)
    assert nm.consume(nonce, 1001) is NonceStatus.VALID
    assert nm.consume(nonce, 1002) is NonceStatus.REPLAYED


def test_nc_must_increase_with_qop():
    nm = NonceManager("k", 30)
    nonce = nm.issue(1000)
    assert nm.consume(nonce, 1001, "00000001") is NonceStatus.VALID
    assert nm.consume(nonce, 1001, "00000001") is NonceStatus.REPLAYED
    assert nm.consume(nonce, 1001, "00000003") is NonceStatus.VALID
    assert nm.consume(nonce, 1001, "00000002") is NonceStatus.REPLAYED
    assert nm.consume(nonce, 1001, "zz") is NonceStatus.REPLAYED


def test_expired_forged_forgotten():
    nm = NonceManager("k", 30, max_entries=2)
    nonce = nm.issue(1000)
    assert nm.consume(nonce, 1031) is NonceStatus.EXPIRED
    assert nm.consume("0" * NONCE_LEN, 1000) is NonceStatus.FORGED
    first = nm.issue(1000)
    nm.issue(1000)
    nm.issue(1000)  # the table holds 2: the first is forgotten
    assert len(nm) == 2
    assert nm.consume(first, 1001) is NonceStatus.REPLAYED


def test_expired_entries_pruned():
    nm = NonceManager("k", 30)
    for _ in range(10):
        nm.issue(1000)
    nm.issue(2000)
    assert len(nm) == 1


def test_consume_of_a_verified_nonce():
    nm = NonceManager("k", 30)
    nonce = nm.issue(1000)
    assert nm.verify(nonce)
    assert nm.consume(nonce, 1001, verified=True) is NonceStatus.VALID
    assert nm.consume(nonce, 1001, verified=True) is NonceStatus.REPLAYED


def test_long_secret():
    nm = NonceManager("x" * 200, 30)
    nonce = nm.issue(1000)
    assert nm.verify(nonce)
    assert not NonceManager("x" * 199, 30).verify(nonce)
    assert nm.consume(nonce, 1001) is NonceStatus.VALID


def test_empty_secret_refused():
    with pytest.raises(ValueError):
        NonceManager("", 30)


def test_check_response_variants():
    ha1 = digest.ha1("alice", "example.com", "pw")
    base = dict(scheme="Digest", username="alice", realm="example.com", nonce="n1", uri="sip:example.com")
    plain = digest.Credentials(response=digest.response(ha1, "n1", "REGISTER", "sip:example.com"), **base)
    assert check_response(plain, "REGISTER", ha1)
    assert check_response(plain, "REGISTER", ha1.upper())
    assert not check_response(plain, "INVITE", ha1)
    resp = digest.response(ha1, "n1", "INVITE", "sip:example.com", "auth", "00000001", "c1")
    with_qop = digest.Credentials(response=resp, qop="auth", nc="00000001", cnonce="c1", **base)
    assert check_response(with_qop, "INVITE", ha1)
    assert credentials_problem(with_qop) is None
    resp = digest.response(ha1, "n1", "MESSAGE", "sip:example.com", "auth-int", "00000001", "c1", b"hi")
    auth_int = digest.Credentials(response=resp, qop="auth-int", nc="00000001", cnonce="c1", **base)
    assert check_response(auth_int, "MESSAGE", ha1, b"hi")
    assert not check_response(auth_int, "MESSAGE", ha1, b"ho")
    short = digest.Credentials(response="abc", **base)
    assert not check_response(short, "REGISTER", ha1)
    assert credentials_problem(digest.Credentials(response="x", qop="auth", **base)) == "qop without nc or cnonce"
    assert credentials_problem(digest.Credentials(response="x", algorithm="SHA-1", **base))
    assert split_username("a@b@c") == ("a", "b@c")
