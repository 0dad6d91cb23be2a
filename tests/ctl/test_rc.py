"""opensipsctlrc parsing: assignments only, never executed."""
from __future__ import annotations

from opensipsg.ctl import rc
from opensipsg.ctl.commands import db_url, ha1, ha1b


def test_assignments_quotes_comments_and_references():
    text = """
# a comment
SIP_DOMAIN=example.com
export DBENGINE=MYSQL
DBRWPW="secret pw"   # trailing comment
ACL_GROUPS='local ld'
FOREVER="2020-05-28 21:32:15"
DEFAULT_ALIASES_EXPIRES=$FOREVER
BRACED=${SIP_DOMAIN}/x
LITERAL='$SIP_DOMAIN'
if [ -z "$X" ]; then
  echo hi
fi
VAR=value rm -rf /
touch /tmp/should-not-exist
"""
    values = rc.parse_rc(text)
    assert values["SIP_DOMAIN"] == "example.com"
    assert values["DBENGINE"] == "MYSQL"
    assert values["DBRWPW"] == "secret pw"
    assert values["ACL_GROUPS"] == "local ld"
    assert values["DEFAULT_ALIASES_EXPIRES"] == "2020-05-28 21:32:15"
    assert values["BRACED"] == "example.com/x"
    assert values["LITERAL"] == "$SIP_DOMAIN"
    assert "VAR" not in values


def test_load_order_env_then_files(tmp_path):
    first = tmp_path / "one"
    first.write_text("SIP_DOMAIN=one.example\nDBNAME=first\n")
    extra = tmp_path / "extra"
    extra.write_text("DBNAME=second\n")
    config = rc.load(str(extra), paths=[str(first), str(tmp_path / "missing")],
                     environ={"SIP_DOMAIN": "env.example", "DBHOST": "db.example"})
    assert config["SIP_DOMAIN"] == "one.example"
    assert config["DBNAME"] == "second"
    assert config["DBHOST"] == "db.example"
    assert config["STORE_PLAINTEXT_PW"] == "1" and config["OSIPS_FIFO"] == "/tmp/opensips_fifo"


def test_db_url_from_variables(tmp_path):
    assert db_url({"DBENGINE": "SQLITE", "DB_PATH": str(tmp_path / "x.db")}) == f"sqlite:///{str(tmp_path)[1:]}/x.db"
    assert db_url({"DBENGINE": "MYSQL", "DBRWUSER": "u", "DBRWPW": "p@ss", "DBHOST": "h", "DBPORT": "3307",
                   "DBNAME": "d"}) == "mysql://u:p%40ss@h:3307/d"
    assert db_url({"DBURL": "sqlite:///tmp/a.db", "DBENGINE": "MYSQL"}) == "sqlite:///tmp/a.db"
    assert db_url({"DBENGINE": ""}) is None


def test_ha1_as_opensipsctl_computes_it():
    # echo -n "alice:example.com:secret" | md5sum
    import hashlib

    assert ha1("alice", "example.com", "secret") == hashlib.md5(b"alice:example.com:secret").hexdigest()
    assert ha1b("alice", "example.com", "secret") == hashlib.md5(b"alice@example.com:example.com:secret").hexdigest()
