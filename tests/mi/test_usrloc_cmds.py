"""usrloc's ul_* MI commands on a real usrloc module (memory storage)."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from opensipsg.mi import format_reply, run
from opensipsg.mi.usrloc_cmds import mask_to_methods, methods_to_mask, q2str, str2q
from opensipsg.modules.usrloc import ContactInfo, UsrlocModule
from opensipsg.statistics import Statistics


@pytest.fixture
def core(tmp_path):
    core = SimpleNamespace(stats=Statistics(), modules={}, params=SimpleNamespace(debug=2),
                           start_time=time.time(), listeners=[])
    ul = UsrlocModule(core)
    ul.init()
    core.modules["usrloc"] = ul
    ul.register_domain("location")  # what registrar's save("location") does while the script loads
    return core


def register(core, aor="bob", contact="sip:bob@127.0.0.1:5070", expires=300, q=1000):
    location = core.modules["usrloc"].register_domain("location")
    now = time.time()
    location.insert_contact(aor, contact, ContactInfo(
        expires=now + expires, q=q, callid="abc@h", cseq=7, flags=0, cflags=0x10, user_agent="SIPp",
        received="sip:10.0.0.1:5060", socket="udp:127.0.0.1:5060", methods=frozenset({"INVITE", "BYE"}),
        last_modified=now))


def test_show_contact(core):
    register(core)
    text = format_reply(run(core, "ul_show_contact", ["location", "bob@example.com"]))
    first, line, *_ = text.split("\n")
    assert first == "200 OK"
    assert line.startswith("Contact:: <sip:bob@127.0.0.1:5070>;q=1;expires=")
    assert line.endswith(";flags=0x0;cflags=0x10;socket=<udp:127.0.0.1:5060>;methods=0x9"
                         ";received=<sip:10.0.0.1:5060>;user_agent=<SIPp>")


def test_show_contact_errors(core):
    assert format_reply(run(core, "ul_show_contact", ["location", "nobody"])) == "404 AOR not found\n\n"
    assert run(core, "ul_show_contact", ["nosuch", "bob"]).reason == "Table not found"
    assert run(core, "ul_show_contact", ["location"]).reason == "Too few or too many arguments"
    core.modules["usrloc"].use_domain = 1
    assert run(core, "ul_show_contact", ["location", "bob"]).reason == "Domain missing in AOR"


def test_table_named_by_the_script_exists_before_first_use():
    """registrar registers the tables its calls name while the script loads (as 1.6)."""
    from opensipsg.core import Core
    from opensipsg.script.parser import parse_config

    cfg = ('listen=udp:127.0.0.1:5060\nloadmodule "sl.so"\nloadmodule "usrloc.so"\n'
           'loadmodule "registrar.so"\nroute { save("location"); lookup("aliases"); }\n')
    loaded = Core(parse_config(cfg, "t.cfg"))
    assert run(loaded, "ul_show_contact", ["aliases", "x"]).reason == "AOR not found"
    assert run(loaded, "ul_show_contact", ["location", "x"]).reason == "AOR not found"


def test_dump_and_brief(core):
    register(core)
    text = format_reply(run(core, "ul_dump", []))
    lines = text.split("\n")
    assert lines[1] == "Domain:: location table=512 records=1"
    assert lines[2] == "\tAOR:: bob"
    assert lines[3] == "\t\tContact:: sip:bob@127.0.0.1:5070 Q=1"
    assert lines[4].startswith("\t\t\tExpires:: ")
    assert "\t\t\tCallid:: abc@h" in lines and "\t\t\tCseq:: 7" in lines
    assert "\t\t\tState:: CS_NEW" in lines and "\t\t\tCflags:: 16" in lines
    assert "\t\t\tSocket:: udp:127.0.0.1:5060" in lines and "\t\t\tMethods:: 9" in lines
    brief = format_reply(run(core, "ul_dump", ["brief"]))
    assert brief == "200 OK\nDomain:: location table=512 records=1\n\tAOR:: bob\n\n"


def test_add_permanent_and_timed_then_remove(core):
    args = ["location", "alice@example.com", "sip:alice@127.0.0.1", "0", "1.00", "0", "0", "0", "4294967295"]
    assert run(core, "ul_add", args).code == 200
    assert "Expires:: permanent" in format_reply(run(core, "ul_dump", []))
    args[3], args[2] = "60", "sip:alice@127.0.0.2"
    assert run(core, "ul_add", args).code == 200
    shown = format_reply(run(core, "ul_show_contact", ["location", "alice"]))
    assert shown.count("Contact::") == 2 and "user_agent=<OpenSIPS MI Server>" in shown
    assert run(core, "ul_rm_contact", ["location", "alice", "sip:alice@127.0.0.1"]).code == 200
    assert run(core, "ul_rm_contact", ["location", "alice", "sip:nope@x"]).reason == "Contact not found"
    assert run(core, "ul_rm", ["location", "alice@example.com"]).code == 200
    assert run(core, "ul_show_contact", ["location", "alice"]).reason == "AOR not found"


def test_add_checks_arguments(core):
    assert run(core, "ul_add", ["location", "a", "sip:a@b"]).code == 400
    bad_q = ["location", "a", "sip:a@b", "0", "2.5", "0", "0", "0", "0"]
    assert format_reply(run(core, "ul_add", bad_q)) == "400 Bad parameter\n\n"


def test_expired_contacts_are_not_shown(core):
    register(core, expires=-5)
    assert format_reply(run(core, "ul_show_contact", ["location", "bob"])) == "404 AOR has no contact\n\n"


def test_flush(core):
    assert run(core, "ul_flush", []).code == 200


def test_q_and_methods_conversions():
    assert [q2str(q) for q in (-1, 0, 100, 250, 1000)] == ["", "0", "0.1", "0.25", "1"]
    assert [str2q(t) for t in ("1.00", "0.5", "1", "0")] == [1000, 500, 1000, 0]
    with pytest.raises(ValueError):
        str2q("1.5")
    assert methods_to_mask(None) == 0xFFFFFFFF
    assert methods_to_mask({"INVITE", "REGISTER"}) == 129
    assert mask_to_methods(4294967295) is None and mask_to_methods(129) == {"INVITE", "REGISTER"}
