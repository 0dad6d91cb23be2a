"""avpops through the real script compiler (fixups included) on a FakeCore and SQLite."""
from __future__ import annotations

import logging

import pytest

from opensipsg.errors import ConfigError, ScriptError
from opensipsg.script.compiler import compile_script
from opensipsg.script.loader import load_modules
from opensipsg.script.parser import parse_config
from tests.auth.helpers import make_db

from .conftest import INVITE, make_ctx

NASTY = "a'b\"c;--%_\\x' OR '1'='1"


class Env:
    """Compiles one-statement scripts against a SQLite usr_preferences table."""

    def __init__(self, core, db, url: str, params: str = "") -> None:
        self.core = core
        self.db = db
        self.url = url
        self.params = params
        self._cache: dict[str, object] = {}

    def compile(self, body: str, params: str | None = None):
        text = (
            'avp_aliases="fwd=s:fwd_uri; vm=i:700"\n'
            'loadmodule "avpops.so"\n'
            f'modparam("avpops", "db_url", "{self.url}")\n'
            + (self.params if params is None else params)
            + f"\nroute {{\n{body}\n}}\n"
        )
        config = parse_config(text, "t.cfg")
        modules = load_modules(config, self.core)
        script = compile_script(config, self.core, modules)
        for module in modules.values():
            module.init()
        return script

    def run(self, ctx, body: str) -> int:
        script = self._cache.get(body)
        if script is None:
            script = self._cache[body] = self.compile(body)
        return script.run("request", "0", ctx)  # type: ignore[attr-defined]

    def rows(self, **where):
        return self.db.select("usr_preferences", ["uuid", "username", "domain", "attribute", "type", "value"],
                              where, order_by="id")


@pytest.fixture
def env(core, tmp_path):
    path = tmp_path / "p.db"
    db = make_db(path, ["usr_preferences", "subscriber"])
    core.database = lambda url: db
    for row in [
        ("", "bob", "example.com", "fwd_uri", 0, "sip:bob@mobile.example.net"),
        ("", "bob", "example.com", "limit", 1, "42"),
        ("", "bob", "example.com", "700", 2, "sip:vm@10.0.0.20"),
        ("", "bob", "example.com", "5", 3, "7"),
        ("", "bob", "example.com", "broken", 1, "not-a-number"),
        ("", "bob", "other.org", "fwd_uri", 0, "sip:bob@other.example.net"),
        ("u-1", "", "", "color", 0, "blue"),
        (NASTY, "", "", "nasty", 0, NASTY),
    ]:
        db.insert("usr_preferences", dict(zip(["uuid", "username", "domain", "attribute", "type", "value"], row)))
    db.insert("subscriber", {"username": "bob", "domain": "example.com", "email_address": "bob@example.com"})
    return Env(core, db, f"sqlite:///{path}")


def ctx_of(core, text: str = INVITE):
    return make_ctx(core, text)


# --- avp_db_load ----------------------------------------------------------------------


def test_load_by_ruri_name_and_alias(core, env):
    ctx = ctx_of(core)  # R-URI sip:bob@example.com
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:fwd_uri)");') == 1
    # no use_domain: both of bob's fwd_uri rows
    assert sorted(ctx.avps.get_all(("s", "fwd_uri"))) == ["sip:bob@mobile.example.net",
                                                          "sip:bob@other.example.net"]
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ruri/username", "$avp(fwd)");') == 1
    assert len(ctx.avps.get_all(("s", "fwd_uri"))) == 2


def test_load_use_domain_and_domain_flag(core, env):
    env.params = 'modparam("avpops", "use_domain", 1)'
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:fwd_uri)");') == 1
    assert ctx.avps.get_all(("s", "fwd_uri")) == ["sip:bob@mobile.example.net"]
    env.params = ""
    env._cache.clear()
    ctx = ctx_of(core)
    # /domain: matches on the domain only
    assert env.run(ctx, 'avp_db_load("$ru/domain", "$avp(s:fwd_uri)");') == 1
    assert ctx.avps.get_all(("s", "fwd_uri")) == ["sip:bob@mobile.example.net"]


def test_load_type_column(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:limit)");') == 1
    assert ctx.avps.get(("s", "limit")) == 42  # type 1: integer value
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(vm)");') == 1
    assert ctx.avps.get(("i", 700)) == "sip:vm@10.0.0.20"  # type 2: integer name
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:700)");') == -1  # the row's name is an integer
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(i:5)");') == 1
    assert ctx.avps.get(("i", 5)) == 7  # type 3
    # "integer" value that is not a number: skipped
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:broken)");') == -1
    assert ctx.avps.get(("s", "broken")) is None


def test_load_all_and_by_name_type(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "a");') == 1
    assert ctx.avps.get(("s", "limit")) == 42
    assert ctx.avps.get(("i", 700)) == "sip:vm@10.0.0.20"
    assert ctx.avps.get(("i", 5)) == 7
    assert ctx.avps.get(("s", "broken")) is None
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "i");') == 1
    assert ctx.avps.get(("i", 5)) == 7 and ctx.avps.get(("s", "limit")) is None
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "s");') == 1
    assert ctx.avps.get(("i", 5)) is None and ctx.avps.get(("s", "limit")) == 42


def test_load_uuid_sources(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("u-1", "$avp(s:color)");') == 1
    assert ctx.avps.get(("s", "color")) == "blue"
    ctx = ctx_of(core)
    ctx.avps.add(("s", "id"), "u-1")
    assert env.run(ctx, 'avp_db_load("$avp(s:id)", "$avp(s:color)");') == 1
    assert ctx.avps.get(("s", "color")) == "blue"
    # SQL metacharacters travel verbatim
    ctx = ctx_of(core)
    ctx.avps.add(("s", "id"), NASTY)
    assert env.run(ctx, 'avp_db_load("$avp(s:id)", "$avp(s:nasty)");') == 1
    assert ctx.avps.get(("s", "nasty")) == NASTY
    ctx = ctx_of(core)
    ctx.avps.add(("s", "id"), "x' OR '1'='1")
    assert env.run(ctx, 'avp_db_load("$avp(s:id)", "a");') == -1
    assert ctx.avps.get(("s", "color")) is None


def test_load_bad_sources(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$avp(s:none)", "$avp(s:color)");') == -1  # NULL
    ctx.avps.add(("s", "u"), "sip:example.com")  # no user part
    assert env.run(ctx, 'avp_db_load("$avp(s:u)/uri", "a");') == -1
    assert env.run(ctx, 'avp_db_load("$fu", "a");') == -1  # alice has nothing


def test_load_dynamic_name(core, env):
    ctx = ctx_of(core)
    core.script_vars["n"] = "s:limit"
    assert env.run(ctx, 'avp_db_load("$ru", "$avp($var(n))");') == 1
    assert ctx.avps.get(("s", "limit")) == 42


def test_load_scheme(core, env):
    env.params = ('modparam("avpops", "db_scheme", '
                  '"mail:table=subscriber;uuid_col=username;value_col=email_address")')
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("bob", "$avp(s:email)/$mail");') == 1
    assert ctx.avps.get(("s", "email")) == "bob@example.com"


def test_load_other_table(core, env):
    env.db.execute("CREATE TABLE prefs2 (uuid TEXT, username TEXT, domain TEXT, attribute TEXT, "
                   "type INTEGER, value TEXT)")
    env.db.insert("prefs2", {"uuid": "", "username": "bob", "domain": "", "attribute": "x",
                             "type": 0, "value": "y"})
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:x)/prefs2");') == 1
    assert ctx.avps.get(("s", "x")) == "y"


# --- avp_db_store / avp_db_delete -----------------------------------------------------------


def test_store_roundtrip_verbatim(core, env):
    ctx = ctx_of(core)  # From alice@example.com
    ctx.avps.add(("s", "note"), NASTY)
    ctx.avps.add(("i", 9), 5)
    assert env.run(ctx, 'avp_db_store("$fu", "$avp(s:note)");') == 1
    assert env.rows(attribute="note") == [{"uuid": "", "username": "alice", "domain": "", "attribute": "note",
                                           "type": 0, "value": NASTY}]
    assert env.run(ctx, 'avp_db_store("$fu", "$avp(i:9)");') == 1
    assert env.rows(attribute="9")[0]["type"] == 3 and env.rows(attribute="9")[0]["value"] == "5"
    # stored values are not stored twice
    assert env.run(ctx, 'avp_db_store("$fu", "$avp(s:note)");') == -1
    assert len(env.rows(attribute="note")) == 1
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$fu", "a");') == 1
    assert ctx.avps.get(("s", "note")) == NASTY and ctx.avps.get(("i", 9)) == 5


def test_store_skips_loaded_values(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:fwd_uri)");') == 1
    assert env.run(ctx, 'avp_db_store("$ru", "$avp(s:fwd_uri)");') == -1
    assert len(env.rows(attribute="fwd_uri")) == 2
    ctx.avps.add(("s", "fwd_uri"), "sip:new@example.org")
    assert env.run(ctx, 'avp_db_store("$ru", "$avp(s:fwd_uri)");') == 1
    assert [r["value"] for r in env.rows(attribute="fwd_uri")][-1] == "sip:new@example.org"
    assert len(env.rows(attribute="fwd_uri")) == 3


def test_store_all_with_use_domain_and_uuid(core, env):
    env.params = 'modparam("avpops", "use_domain", 1)'
    ctx = ctx_of(core)
    ctx.avps.add(("s", "a1"), "v1")
    ctx.avps.add(("i", 77), "v2")
    assert env.run(ctx, 'avp_db_store("$fu", "s");') == 1
    assert env.rows(attribute="a1")[0]["domain"] == "example.com"
    assert env.rows(attribute="77") == []
    assert env.run(ctx, 'avp_db_store("uid-9", "$avp(i:77)");') == 1
    assert env.rows(attribute="77") == [{"uuid": "uid-9", "username": "", "domain": "", "attribute": "77",
                                         "type": 2, "value": "v2"}]


def test_delete(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_delete("$ru", "$avp(s:fwd_uri)");') == 1
    assert env.rows(attribute="fwd_uri") == []
    assert len(env.rows(username="bob")) == 4
    assert env.run(ctx, 'avp_db_delete("$ru/username", "a");') == 1
    assert env.rows(username="bob") == []
    assert env.rows(uuid="u-1") != []
    assert env.run(ctx, 'avp_db_delete("u-1", "a");') == 1
    assert env.rows(uuid="u-1") == []


def test_database_errors_are_false_not_exceptions(core, env, caplog):
    env.db.execute("DROP TABLE usr_preferences")
    ctx = ctx_of(core)
    ctx.avps.add(("s", "note"), "x")
    with caplog.at_level(logging.ERROR):
        assert env.run(ctx, 'avp_db_load("$ru", "a");') == -1
        assert env.run(ctx, 'avp_db_store("$ru", "$avp(s:note)");') == -1
        assert env.run(ctx, 'avp_db_delete("$ru", "a");') == -1
        assert env.run(ctx, 'avp_db_query("select * from usr_preferences");') == -1
    assert "avp_db_load" in caplog.text and "avp_db_query" in caplog.text


def test_unreachable_database(core, tmp_path):
    from opensipsg.db import connect

    core.database = lambda url: connect(url)
    env = Env(core, None, f"sqlite:///{tmp_path}/no/such/dir/x.db")
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "a");') == -1
    assert env.run(ctx, 'avp_db_query("select 1");') == -1


# --- avp_db_query ------------------------------------------------------------------------------


def test_query(core, env):
    ctx = ctx_of(core)
    body = ('avp_db_query("select value, type from usr_preferences where username=\'$rU\' '
            'and attribute=\'fwd_uri\' order by id", "$avp(s:v);$avp(i:3)");')
    assert env.run(ctx, body) == 1
    assert ctx.avps.get_all(("s", "v")) == ["sip:bob@mobile.example.net", "sip:bob@other.example.net"]
    assert ctx.avps.get_all(("i", 3)) == [0, 0]
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_query("select attribute, value, NULL, \'\' from usr_preferences '
                        'where uuid=\'u-1\'");') == 1
    assert ctx.avps.get(("i", 1)) == "color" and ctx.avps.get(("i", 2)) == "blue"
    assert ctx.avps.get(("i", 3)) is None and ctx.avps.get(("i", 4)) is None
    # more columns than names: the rest are ignored
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_query("select 1, 2", "$avp(s:one)");') == 1
    assert ctx.avps.get(("s", "one")) == 1 and ctx.avps.get(("i", 2)) is None
    # nothing found, statements without rows
    assert env.run(ctx, 'avp_db_query("select value from usr_preferences where 1=0");') == 1
    assert env.run(ctx, 'avp_db_query("update usr_preferences set value=\'z\' where uuid=\'u-1\'");') == 1
    assert env.rows(uuid="u-1")[0]["value"] == "z"
    assert env.run(ctx, 'avp_db_query("selec nonsense");') == -1


def test_query_buf_size(core, env):
    env.params = 'modparam("avpops", "buf_size", 20)'
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_query("select 1");') == 1
    assert env.run(ctx, 'avp_db_query("select 1, 2, 3, 4, 5, 6, 7");') == -1


# --- in memory -------------------------------------------------------------------------------


def test_delete_avps(core, env):
    ctx = ctx_of(core)
    for key, value in [(("s", "a"), "1"), (("s", "a"), "2"), (("i", 4), 4), (("s", "b"), "x")]:
        ctx.avps.add(key, value)
    assert env.run(ctx, 'avp_delete("$avp(s:a)");') == 1
    assert ctx.avps.get_all(("s", "a")) == ["1"]
    assert env.run(ctx, 'avp_delete("$avp(s:a)/g");') == 1
    assert env.run(ctx, 'avp_delete("$avp(s:a)");') == -1
    assert env.run(ctx, 'avp_delete("i");') == 1
    assert ctx.avps.get(("i", 4)) is None and ctx.avps.get(("s", "b")) == "x"
    assert env.run(ctx, 'avp_delete("a");') == 1
    assert env.run(ctx, 'avp_delete("*");') == -1


def test_copy(core, env):
    ctx = ctx_of(core)
    ctx.avps.add(("s", "src"), "12")
    ctx.avps.add(("s", "src"), "34")  # top
    assert env.run(ctx, 'avp_copy("$avp(s:src)", "$avp(s:dst)");') == 1
    assert ctx.avps.get_all(("s", "dst")) == ["34"]
    assert env.run(ctx, 'avp_copy("$avp(s:src)", "$avp(i:1)/gn");') == 1
    assert ctx.avps.get_all(("i", 1)) == [12, 34]  # copied one by one onto the top
    assert env.run(ctx, 'avp_copy("$avp(i:1)", "$avp(s:back)/gsd");') == 1
    assert ctx.avps.get_all(("s", "back")) == ["34", "12"] and ctx.avps.get(("i", 1)) is None
    ctx.avps.add(("s", "word"), "abc")
    assert env.run(ctx, 'avp_copy("$avp(s:word)", "$avp(i:2)/n");') == -1
    assert env.run(ctx, 'avp_copy("$avp(s:none)", "$avp(i:2)");') == -1


def test_pushto(core, env):
    ctx = ctx_of(core)
    ctx.avps.add(("s", "fwd_uri"), "sip:carol@192.0.2.7:5070")
    assert env.run(ctx, 'avp_pushto("$ru", "$avp(fwd)");') == 1
    assert ctx.ruri == "sip:carol@192.0.2.7:5070"
    ctx.avps.add(("s", "user"), "dave")
    assert env.run(ctx, 'avp_pushto("$ru/username", "$avp(s:user)");') == 1
    assert ctx.ruri == "sip:dave@192.0.2.7:5070"
    ctx.avps.add(("s", "dom"), "b.example.org")
    ctx.avps.add(("s", "dom"), "a.example.org")
    assert env.run(ctx, 'avp_pushto("$ru/domain", "$avp(s:dom)/g");') == 1
    assert ctx.ruri == "sip:dave@b.example.org:5070"
    assert [b.uri for b in ctx.branches] == ["sip:dave@a.example.org:5070"]
    assert env.run(ctx, 'avp_pushto("$du", "$avp(fwd)");') == 1
    assert ctx.dst_uri == "sip:carol@192.0.2.7:5070"
    assert env.run(ctx, 'avp_pushto("$br", "$avp(fwd)");') == 1
    assert ctx.branches[-1].uri == "sip:carol@192.0.2.7:5070"
    ctx.avps.add(("i", 3), 5)
    assert env.run(ctx, 'avp_pushto("$du", "$avp(i:3)");') == -1  # integers are not URIs
    assert env.run(ctx, 'avp_pushto("$du", "$avp(i:99)");') == -1  # nothing to push
    ctx.avps.add(("s", "bad"), "not a uri")
    assert env.run(ctx, 'avp_pushto("$ru", "$avp(s:bad)");') == -1
    assert ctx.ruri == "sip:dave@b.example.org:5070"
    assert env.run(ctx, 'avp_pushto("$ru/username", "$fU");') == 1  # any PV
    assert ctx.ruri == "sip:alice@b.example.org:5070"


def test_check(core, env):
    ctx = ctx_of(core)
    ctx.avps.add(("i", 1), 10)
    ctx.avps.add(("i", 1), 3)  # top
    ctx.avps.add(("s", "s"), "Sip:Bob@Example.com")
    ctx.avps.add(("s", "pat"), "sip:*@example.com")
    checks = {
        'avp_check("$avp(i:1)", "eq/i:3")': 1,
        'avp_check("$avp(i:1)", "eq/i:10")': -1,
        'avp_check("$avp(i:1)", "eq/i:10/g")': 1,
        'avp_check("$avp(i:1)", "lt/i:0x4")': 1,
        'avp_check("$avp(i:1)", "gt/i:-1")': 1,
        'avp_check("$avp(i:1)", "and/i:4")': -1,
        'avp_check("$avp(i:1)", "and/i:2")': 1,
        'avp_check("$avp(i:1)", "eq/3")': -1,  # "3" is a string: types differ
        'avp_check("$avp(s:s)", "eq/sip:bob@example.com")': -1,
        'avp_check("$avp(s:s)", "eq/sip:bob@example.com/i")': 1,
        'avp_check("$avp(s:s)", "ne/s:x")': 1,
        'avp_check("$avp(s:s)", "lt/sip:c")': 1,
        'avp_check("$avp(s:s)", "ge/SIP:BOB@EXAMPLE.COM")': 1,
        'avp_check("$avp(s:s)", "re/^sip:b.b@")': 1,
        'avp_check("$avp(s:s)", "fm/$avp(s:pat)")': -1,
        'avp_check("$avp(s:s)", "fm/$avp(s:pat)/i")': 1,
        'avp_check("$avp(s:s)", "eq/$ru/i")': 1,
        'avp_check("$rU", "eq/bob")': 1,
        'avp_check("$avp(s:none)", "eq/x")': -1,
    }
    for call, expected in checks.items():
        assert env.run(ctx, call + ";") == expected, call


def test_op(core, env):
    ctx = ctx_of(core)
    ctx.avps.add(("i", 1), 10)
    assert env.run(ctx, 'avp_op("$avp(i:1)", "add/i:5");') == 1
    assert ctx.avps.get_all(("i", 1)) == [15, 10]
    assert env.run(ctx, 'avp_op("$avp(i:1)/$avp(s:r)", "mul/i:2/d");') == 1
    assert ctx.avps.get(("i", 1)) is None
    assert ctx.avps.get_all(("s", "r")) == [20, 30]
    ctx.avps.add(("i", 2), -7)
    ctx.avps.add(("i", 3), 2)
    assert env.run(ctx, 'avp_op("$avp(i:2)/$avp(i:4)", "div/$avp(i:3)");') == 1
    assert env.run(ctx, 'avp_op("$avp(i:2)/$avp(i:5)", "mod/i:2");') == 1
    assert ctx.avps.get(("i", 4)) == -3 and ctx.avps.get(("i", 5)) == -1  # C truncation
    ctx.avps.add(("i", 6), 0x7FFFFFFF)
    assert env.run(ctx, 'avp_op("$avp(i:6)", "add/i:1/d");') == 1
    assert ctx.avps.get_all(("i", 6)) == [-2147483648]  # 32-bit
    assert env.run(ctx, 'avp_op("$avp(i:6)/$avp(i:7)", "not/i:0");') == 1
    assert ctx.avps.get(("i", 7)) == -1
    ctx.avps.add(("s", "txt"), "abc")
    assert env.run(ctx, 'avp_op("$avp(s:txt)", "add/i:1");') == -1
    assert env.run(ctx, 'avp_op("$avp(i:3)", "add/$rU");') == -1  # a string operand
    assert env.run(ctx, 'avp_op("$avp(i:3)", "div/i:0");') == 1
    assert ctx.avps.get(("i", 3)) == 0


def test_subst(core, env):
    ctx = ctx_of(core)
    ctx.avps.add(("i", 678), "jane@old.example.org")
    ctx.avps.add(("i", 678), 5)
    ctx.avps.add(("i", 678), "joe@old.example.org")
    assert env.run(ctx, r'avp_subst("$avp(i:678)", "/(.*)@(.*)/\1@$rd/");') == 1
    assert ctx.avps.get_all(("i", 678)) == ["joe@example.com", 5, "jane@old.example.org"]
    assert env.run(ctx, r'avp_subst("$avp(i:678)/$avp(i:679)/g", "/(.*)@(.*)/\1 at \2/");') == 1
    assert ctx.avps.get_all(("i", 679)) == ["jane at old.example.org", "joe at example.com"]
    assert ctx.avps.get_all(("i", 678)) == ["joe@example.com", 5, "jane@old.example.org"]
    assert env.run(ctx, r'avp_subst("$avp(i:678)/$avp(i:680)/gd", "/example/EX/gi");') == 1
    assert ctx.avps.get_all(("i", 678)) == [5]
    assert ctx.avps.get_all(("i", 680)) == ["jane@old.EX.org", "joe@EX.com"]
    assert env.run(ctx, 'avp_subst("$avp(i:680)", "/nomatch/x/");') == -1


def test_is_avp_set_and_insert(core, env):
    ctx = ctx_of(core)
    assert env.run(ctx, 'is_avp_set("$avp(s:x)");') == -1
    ctx.avps.add(("s", "x"), "")
    assert env.run(ctx, 'is_avp_set("$avp(s:x)");') == 1
    assert env.run(ctx, 'is_avp_set("$avp(s:x)/e");') == 1
    assert env.run(ctx, 'is_avp_set("$avp(s:x)/n");') == -1
    assert env.run(ctx, 'is_avp_set("$avp(s:x)/s");') == 1
    assert env.run(ctx, 'avp_insert("$avp(s:x)", "$rU", "1");') == 1
    assert env.run(ctx, 'avp_insert("$avp(s:x)", "tail", "9");') == 1
    assert env.run(ctx, 'avp_insert("$avp(s:x)", "$cs", "0");') == 1
    assert ctx.avps.get_all(("s", "x")) == [314159, "", "bob", "tail"]
    assert env.run(ctx, 'is_avp_set("$(avp(s:x)[2])/s");') == 1
    assert env.run(ctx, 'is_avp_set("$(avp(s:x)[0])/n");') == 1
    assert env.run(ctx, 'is_avp_set("$(avp(s:x)[4])");') == -1


def test_print(core, env, caplog):
    ctx = ctx_of(core)
    ctx.avps.add(("s", "x"), "v")
    ctx.avps.add(("i", 3), 4)
    with caplog.at_level(logging.INFO, logger="opensipsg.modules.avpops"):
        assert env.run(ctx, "avp_print();") == 1
    assert "name=<x> val_str=<v / 1>" in caplog.text and "id=<3> val_int=<4>" in caplog.text


# --- load time ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body, message", [
    ('avp_write("x", "$avp(s:x)");', "assign"),
    ('avp_db_load("$ru/nonsense", "a");', "unknown flag"),
    ('avp_db_load("$ru", "x");', "expected"),
    ('avp_db_load("$ru", "$avp(s:x)/$nosuch");', "scheme <nosuch> not found"),
    ('avp_db_store("$ru", "$avp(s:x)/$scheme");', "doesn't support DB schemes"),
    ('avp_db_load("$ru", "a/$mail");', "inconsistent"),
    ('avp_delete("$avp(s:x)/q");', "bad flag"),
    ('avp_delete("$ru");', "an AVP is expected"),
    ('avp_pushto("$fu", "$avp(s:x)");', "unsupported destination"),
    ('avp_pushto("$ru/user", "$avp(s:x)");', "unknown ruri flag"),
    ('avp_check("$avp(s:x)", "zz/1");', "unknown operation"),
    ('avp_check("$avp(s:x)", "re/i:4");', "requires string"),
    ('avp_check("$avp(s:x)", "re/a(");', "bad re"),
    ('avp_op("$avp(s:x)", "add/5");', "integer"),
    ('avp_subst("$avp(s:x)", "/a/b");', "bad subst"),
    ('is_avp_set("$avp(s:x)/sn");', "flag"),
    ('avp_copy("$avp(s:x)", "$avp(s:y)/q");', "bad flag"),
    ('avp_insert("$avp(s:x)", "v", "-1");', "positive integer"),
])
def test_load_errors(core, env, body, message):
    with pytest.raises(ScriptError) as info:
        env.compile(body, params='modparam("avpops", "db_scheme", "mail:value_col=email_address")')
    assert message in str(info.value)


def test_db_url_ids(core, env, tmp_path):
    env.params = f'modparam("avpops", "db_url", "3 sqlite:///{tmp_path}/p.db")'
    ctx = ctx_of(core)
    assert env.run(ctx, 'avp_db_load("$ru", "$avp(s:limit)", "3");') == 1
    with pytest.raises(ConfigError, match="no db_url with id <4>"):
        env.compile('avp_db_load("$ru", "a", "4");')
    with pytest.raises(ConfigError, match="overwritten"):
        env.compile("avp_print();", params=f'modparam("avpops", "db_url", "0 {env.url}")')


def test_no_db_url(core):
    text = 'loadmodule "avpops.so"\nroute { avp_db_load("$ru", "a"); }\n'
    config = parse_config(text, "t.cfg")
    modules = load_modules(config, core)
    compile_script(config, core, modules)
    with pytest.raises(ConfigError, match="no db url"):
        modules["avpops"].init()
    # without avp_db_* functions no database is needed
    config = parse_config('loadmodule "avpops.so"\nroute { avp_print(); }\n', "t.cfg")
    modules = load_modules(config, core)
    compile_script(config, core, modules)
    modules["avpops"].init()


def test_db_mysql_module_loads(core):
    text = ('loadmodule "db_mysql.so"\nmodparam("db_mysql", "ping_interval", 60)\n'
            'modparam("db_mysql", "timeout_interval", 3)\nroute { exit; }\n')
    modules = load_modules(parse_config(text, "t.cfg"), core)
    assert modules["db_mysql"].ping_interval == 60
    with pytest.raises(ScriptError, match="auto_reconnect"):
        load_modules(parse_config('loadmodule "db_mysql.so"\n'
                                  'modparam("db_mysql", "auto_reconnect", 1)\n', "t.cfg"), core)
