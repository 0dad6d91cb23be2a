"""End-to-end tests of the script compiler: parse -> load modules -> compile -> run."""
from __future__ import annotations

import logging
from typing import Any

import pytest

from opensipsg.errors import ParseError, ScriptError
from opensipsg.registry import R, F, B, O, ALL_ROUTES, Module, Param, RouteType, function, register_module
from opensipsg.script.compiler import compile_script
from opensipsg.script.context import RouteContext
from opensipsg.script.loader import load_modules
from opensipsg.script.parser import parse_config
from opensipsg.sip.message import parse

INVITE = (
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@example.com>\r\n"
    "From: \"Alice A\" <sip:alice@atlanta.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.168.1.2:5060>;expires=60\r\n"
    "User-Agent: TestPhone/1.0\r\n"
    "X-Multi: one\r\n"
    "X-Multi: two\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n\r\nv=0\n"
)

REGISTER = (
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKreg\r\n"
    "Max-Forwards: 70\r\n"
    "To: <sip:alice@example.com>\r\n"
    "From: <sip:alice@example.com>;tag=456\r\n"
    "Call-ID: reg1@pc33\r\n"
    "CSeq: 2 REGISTER\r\n"
    "Contact: <sip:alice@192.168.1.2:5060>\r\n"
    "Authorization: Digest username=\"alice@example.com\", realm=\"example.com\", "
    "nonce=\"abc\", uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\r\n"
    "Content-Length: 0\r\n\r\n"
)

REPLY_200 = (
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bK776asdhds\r\n"
    "To: Bob <sip:bob@example.com>;tag=xyz\r\n"
    "From: \"Alice A\" <sip:alice@atlanta.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Content-Length: 0\r\n\r\n"
)


class FakeCore:
    def __init__(self) -> None:
        self.script_vars: dict[str, Any] = {}
        self.myself = {("10.0.0.1", 5060), ("proxy.example.com", 5060)}
        self.forwarded: list[Any] = []
        self.sent: list[Any] = []
        self.listeners = {("udp", "10.0.0.1", 5060)}
        self.xlog_force_color = False

    def is_myself(self, host: str, port: int | None) -> bool:
        host = host.lower()
        if not port:
            return any(h == host for h, _ in self.myself)
        return (host, port) in self.myself

    def forward(self, ctx: Any, dest: Any) -> int:
        self.forwarded.append((ctx.ruri, ctx.dst_uri, dest))
        return 1

    def send_raw(self, ctx: Any, dest: Any) -> int:
        self.sent.append(dest)
        return 1

    def has_listener(self, proto: str, ip: str, port: int) -> bool:
        return (proto, ip, port) in self.listeners


@register_module
class RecorderModule(Module):
    """Test-only module: functions record their calls and return configured codes."""

    name = "testmod"
    params = {"code": Param(int, 1), "label": Param(str, "x"), "multi": Param(str, None, multi=True)}
    obsolete = {"old_func": "old_func() is obsolete: use new_func()"}

    def __init__(self, core: Any) -> None:
        super().__init__(core)
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.codes: dict[str, int] = {}

    def _rec(self, name: str, *args: Any) -> int:
        self.calls.append((name, args))
        return self.codes.get(name, 1)

    @function("rec", "fmt", optional=1)
    def rec(self, ctx: Any, fmt: Any = None) -> int:
        return self._rec("rec", None if fmt is None else fmt.render(ctx))

    @function("code", "str")
    def code(self, ctx: Any, name: str) -> int:
        return self._rec("code:" + name)

    @function("two", "str", "int", routes=R | F)
    def two(self, ctx: Any, a: str, b: int) -> int:
        return self._rec("two", a, b)

    @function("req_only", routes=R)
    def req_only(self, ctx: Any) -> int:
        return self._rec("req_only")

    @function("boom")
    def boom(self, ctx: Any) -> int:
        self.calls.append(("boom", ()))
        raise ParseError("bad header", 400)

    @function("t_on_failure", "route")
    def t_on_failure(self, ctx: Any, name: str) -> int:
        ctx.armed["failure"] = name
        return 1

    @function("match", "regex")
    def match(self, ctx: Any, rx: Any) -> int:
        return 1 if rx.search(ctx.ruri) else -1

    @function("setpv", "pv", "fmt")
    def setpv(self, ctx: Any, pv: Any, fmt: Any) -> int:
        pv.set(ctx, fmt.render(ctx))
        return 1


@register_module
class DependentModule(Module):
    name = "testdep"
    depends = ("testmod",)


LOAD = 'loadmodule "/usr/lib/opensips/modules/testmod.so"\n'


def build(text: str, core: FakeCore | None = None, file: str = "t.cfg"):
    core = core or FakeCore()
    config = parse_config(text, file)
    modules = load_modules(config, core)
    script = compile_script(config, core, modules)
    return script, core, modules


def make_ctx(core: Any, raw: str = INVITE, route_type: RouteType = RouteType.REQUEST, **kw: Any) -> RouteContext:
    msg = parse(raw.encode())
    kw.setdefault("src_ip", "192.168.1.2")
    kw.setdefault("src_port", 5060)
    kw.setdefault("local_ip", "10.0.0.1")
    kw.setdefault("local_port", 5060)
    return RouteContext(core, msg, route_type, **kw)


def run(text: str, raw: str = INVITE, kind: str = "request", name: str = "0",
        codes: dict[str, int] | None = None, **kw: Any):
    script, core, modules = build(LOAD + text)
    modules["testmod"].codes.update(codes or {})
    ctx = make_ctx(core, raw, **kw)
    rc = script.run(kind, name, ctx)
    return rc, ctx, modules.get("testmod"), core


def calls(mod: Any) -> list[str]:
    return [c[0] if not c[1] else f"{c[0]}{c[1]!r}" for c in mod.calls]


def rec_texts(mod: Any) -> list[Any]:
    return [c[1][0] for c in mod.calls if c[0] == "rec"]


# --- return-value semantics (Appendix A 3, 4) -------------------------------------------------

def test_function_returning_zero_stops_whole_script_even_in_condition():
    script, core, mods = build(LOAD + """
route {
    route(1);
    rec("after");
}
route[1] {
    if (!code("zero")) { rec("negated"); }
    rec("in-sub");
}
""")
    mods["testmod"].codes["code:zero"] = 0
    ctx = make_ctx(core)
    assert script.run("request", "0", ctx) == 0
    assert ctx.stop is True
    assert rec_texts(mods["testmod"]) == []


def test_negative_is_false_positive_true():
    script, core, mods = build(LOAD + """
route {
    if (code("neg")) rec("neg-true"); else rec("neg-false");
    if (code("pos")) rec("pos-true");
}
""")
    mods["testmod"].codes["code:neg"] = -3
    mods["testmod"].codes["code:pos"] = 7
    script.run("request", "0", make_ctx(core))
    assert rec_texts(mods["testmod"]) == ["neg-false", "pos-true"]


def test_return_in_subroute_sets_retcode_and_caller_continues():
    rc, ctx, mod, _ = run("""
route {
    route(1);
    rec("$retcode $rc");
    if (route(2)) rec("r2 true");
    route(3);
    rec("r3 $retcode");
    return(5);
}
route[1] { return(-4); }
route[2] { return; }
route[3] { rec("x"); }
""")
    assert rec_texts(mod) == ["-4 -4", "r2 true", "x", "r3 1"]
    assert rc == 5
    assert ctx.stop is False


def test_exit_and_return_zero_stop_from_subroute():
    rc, ctx, mod, _ = run("""
route { route(1); rec("no"); }
route[1] { return(0); }
""")
    assert rc == 0 and ctx.stop and rec_texts(mod) == []
    rc, ctx, mod, _ = run("""
route { route(1); rec("no"); }
route[1] { if (1) { exit; } }
""")
    assert rc == 0 and ctx.stop and rec_texts(mod) == []


def test_zero_stops_the_run_from_every_statement_shape():
    # a 0 travels up as a return code through blocks, if/else, while, switch and route
    # calls, and is raised from inside expressions: each shape must end the whole run
    bodies = [
        'if (code("pos")) { rec("a"); exit; } else { rec("no"); }',
        'if (!code("neg")) { rec("a"); route(1); rec("no"); }',
        'if (code("zero")) { rec("no"); } else { rec("no"); }',
        'if (code("pos") && code("zero")) { rec("no"); }',
        'if (route(1)) { rec("no"); } else { rec("no"); }',
        '$var(x) = code("zero"); rec("no");',
        '$var(i) = 0; while ($var(i) < 3) { $var(i) = $var(i) + 1; rec("a"); if ($var(i) == 2) exit; }',
        'switch ($rm) { case "INVITE": rec("a"); drop; default: rec("no"); }',
        'if ($rm == "INVITE") { if ($rm == "INVITE") { rec("a"); return(0); } rec("no"); }',
    ]
    for body in bodies:
        rc, ctx, mod, _ = run(f"route {{ {body} rec(\"no\"); }}\nroute[1] {{ rec(\"a\"); exit; }}",
                              codes={"code:zero": 0, "code:pos": 1, "code:neg": -1})
        assert (rc, ctx.stop) == (0, True), body
        assert "no" not in rec_texts(mod), body


def test_call_conditions_of_every_arity_with_and_without_else():
    rc, ctx, mod, _ = run("""
route {
    if (two("a", "1")) rec("two $rc"); else rec("no");
    if (!two("b", "2")) rec("no"); else rec("not-two $rc");
    if (code("neg")) rec("no"); else rec("neg $rc");
    if (!code("neg")) rec("not-neg $rc");
    if (code("neg")) rec("no");
    rec("after $rc");
    if (!req_only()) { rec("no"); } else { code("neg"); }
    rec("else $rc");
}
""", codes={"code:neg": -2})
    assert rec_texts(mod) == ["two 1", "not-two 1", "neg -2", "not-neg -2", "after -2", "else -2"]
    assert calls(mod).count("two('a', 1)") == 1 and "two('b', 2)" in calls(mod)


def test_error_route_return_zero_stops_the_run():
    rc, ctx, mod, _ = run('route { boom(); rec("no"); }\nerror_route { rec("error"); return(0); }')
    assert (rc, ctx.stop) == (0, True) and rec_texts(mod) == ["error"]
    assert ctx.route_type == RouteType.REQUEST


def test_drop_sets_dropped():
    rc, ctx, mod, _ = run('route { route(1); rec("no"); }\nroute[1] { drop; }')
    assert ctx.dropped and ctx.stop and rec_texts(mod) == []


def test_return_pv_values():
    rc, ctx, mod, _ = run("""
route {
    $var(n) = -7; route(1); rec("$rc");
    $var(n) = "abc"; route(1); rec("$rc");
    route(2); rec("$rc");
}
route[1] { return($var(n)); }
route[2] { return($avp(s:none)); }
""")
    assert rec_texts(mod) == ["-7", "1", "-1"]


def test_retcode_from_function_inside_condition_visible_in_block():
    script, core, mods = build(LOAD + """
route {
    if (!code("lookup")) {
        switch ($retcode) {
            case -1:
            case -3:
                rec("not found");
                break;
            case -2:
                rec("method");
                break;
            default:
                rec("other");
        }
    }
}
""")
    mods["testmod"].codes["code:lookup"] = -3
    script.run("request", "0", make_ctx(core))
    assert rec_texts(mods["testmod"]) == ["not found"]
    mods["testmod"].calls.clear()
    mods["testmod"].codes["code:lookup"] = -2
    script.run("request", "0", make_ctx(core))
    assert rec_texts(mods["testmod"]) == ["method"]


# --- expressions (Appendix A 1, 2, 8, 19) -------------------------------------------------------

def test_and_or_same_precedence_left_assoc():
    # a || b && c == (a || b) && c: with a=true, b=any, c=false -> false
    rc, ctx, mod, _ = run("""
route {
    if (code("t") || code("t2") && code("f")) rec("yes"); else rec("no");
}
""", codes={"code:f": -1})
    assert rec_texts(mod) == ["no"]


def test_short_circuit():
    script, core, mods = build(LOAD + """
route {
    if (code("f") && code("never")) rec("x");
    if (code("t") || code("never")) rec("y");
}
""")
    mods["testmod"].codes["code:f"] = -1
    script.run("request", "0", make_ctx(core))
    assert "code:never" not in calls(mods["testmod"])
    assert rec_texts(mods["testmod"]) == ["y"]


def test_string_compare_case_insensitive_and_regex():
    rc, ctx, mod, _ = run("""
route {
    if ($rm == "invite") rec("eq");
    if ($rU != "BOB") rec("ne"); else rec("same");
    if ($rU =~ "^B[[:alpha:]]+$") rec("re");
    if ($rU !~ "[[:digit:]]") rec("nodigit");
    if ($fU =~ "lic") rec("unanchored");
    if ($rU > "alice") rec("gt");
}
""")
    assert rec_texts(mod) == ["eq", "same", "re", "nodigit", "unanchored", "gt"]


def test_int_vs_string_mismatch_is_false_with_crit_log(caplog):
    with caplog.at_level(logging.CRITICAL, logger="opensipsg.script"):
        rc, ctx, mod, _ = run("""
route {
    $var(s) = "5";
    if ($var(s) == 5) rec("eq"); else rec("mismatch");
    if ($var(s) != 5) rec("ne"); else rec("mismatch2");
}
""")
    assert rec_texts(mod) == ["mismatch", "mismatch2"]
    assert any(r.levelno == logging.CRITICAL for r in caplog.records)


def test_dual_pvs_compare_with_strings_and_ints():
    rc, ctx, mod, _ = run("""
route {
    if ($rp == 5060) rec("int");
    if ($rp == "5060") rec("str");
    if ($cs == 314159) rec("cs");
    if ($sp =~ "^50") rec("sp");
}
""")
    assert rec_texts(mod) == ["int", "str", "cs", "sp"]


def test_null_rules():
    rc, ctx, mod, _ = run("""
route {
    if ($avp(s:x) == NULL) rec("null-eq");
    if ($avp(s:x) != "a") rec("null-ne");
    if ($avp(s:x) == "a") rec("BAD1");
    if ($avp(s:x) =~ "a") rec("BAD2");
    if ($avp(s:x) !~ "a") rec("null-nre");
    if ($rU != NULL) rec("notnull");
    if ($avp(s:x) == $avp(s:y)) rec("both-null");
    if (!$avp(s:x)) rec("pv-false");
    if ($rU == NULL) rec("BAD3");
    if ($avp(s:x) != NULL) rec("BAD4"); else rec("null-not-ne");
    if (!($rU == NULL)) rec("neg-null"); else rec("BAD5");
    if (!($avp(s:x) != NULL)) rec("neg-not-ne");
}
""")
    assert rec_texts(mod) == ["null-eq", "null-ne", "null-nre", "notnull", "both-null", "pv-false",
                              "null-not-ne", "neg-null", "neg-not-ne"]


def test_arithmetic_one_level_and_bitwise():
    rc, ctx, mod, _ = run("""
route {
    $var(a) = 1 + 2 * 3;
    $var(b) = (1 + (2 * 3));
    $var(c) = 6 | 1 & 3;
    $var(d) = "ab" + "cd";
    $var(e) = 7 / 2;
    $var(f) = -7 % 3;
    $var(g) = 1 << 4;
    $var(h) = ~0;
    $var(i) = "n" + 5;
    rec("$var(a) $var(b) $var(c) $var(d) $var(e) $var(f) $var(g) $var(h) $var(i)");
    if ([$var(a) - 9]) rec("BAD"); else rec("test-false");
}
""")
    assert rec_texts(mod) == ["9 7 3 abcd 3 -1 16 -1 n5", "test-false"]


def test_assignment_operators_and_condition_value():
    rc, ctx, mod, _ = run("""
route {
    $var(x) = 10; $var(x) += 5; $var(x) -= 1; $var(x) *= 2; $var(x) /= 4; $var(x) %= 4;
    $var(y) = 12; $var(y) &= 10; $var(z) = 1; $var(z) |= 6; $var(w) = 5; $var(w) ^= 1;
    $var(c) = ($rm == "INVITE");
    $var(f) = code("x");
    $var(n) = NULL;
    rec("$var(x) $var(y) $var(z) $var(w) $var(c) $var(f) $var(n)");
}
""")
    assert rec_texts(mod) == ["3 8 7 4 1 1 0"]


def test_legacy_keywords():
    rc, ctx, mod, core = run("""
route {
    if (method == "INVITE" && method =~ "^inv") rec("method");
    if (uri == "sip:bob@example.com") rec("uri");
    if (uri =~ "bob@") rec("uri-re");
    if (!(uri == myself)) rec("not-myself");
    if (from_uri =~ "alice") rec("from");
    if (to_uri == "sip:bob@example.com") rec("to");
    if (src_ip == 192.168.0.0/16) rec("net");
    if (src_ip == 192.168.1.0/255.255.255.0) rec("mask");
    if (src_ip != 10.0.0.0/8) rec("not10");
    if (src_ip == 192.168.1.2) rec("ip");
    if (dst_ip == myself) rec("dst-myself");
    if (src_port == 5060 && dst_port >= 5000) rec("ports");
    if (proto == udp) rec("udp");
    if (proto != tcp) rec("nottcp");
    if (af == inet) rec("inet");
    if (msg:len < max_len) rec("len");
    if (myself == dst_ip) rec("myself-first");
}
""")
    assert rec_texts(mod) == ["method", "uri", "uri-re", "not-myself", "from", "to", "net", "mask",
                              "not10", "ip", "dst-myself", "ports", "udp", "nottcp", "inet", "len",
                              "myself-first"]


def test_myself_for_pv_and_uri():
    raw = INVITE.replace("sip:bob@example.com SIP", "sip:bob@10.0.0.1 SIP")
    rc, ctx, mod, _ = run("""
route {
    if (uri == myself) rec("uri");
    if ($rd == myself) rec("rd");
    if ($ru == myself) rec("ru");
    if ($fd != myself) rec("fd");
}
""", raw=raw)
    assert rec_texts(mod) == ["uri", "rd", "ru", "fd"]


def test_myself_answer_kept_per_core_and_value():
    # 'uri == myself' remembers its last answer: only for the same value and the same core
    script, core, mods = build(LOAD + 'route { if (uri == myself) rec("me"); else rec("other"); }')
    other = FakeCore()
    other.myself = {("192.0.2.99", 5060)}
    mine = INVITE.replace("sip:bob@example.com SIP", "sip:bob@10.0.0.1 SIP")
    for ctx_core, raw in ((core, mine), (core, mine), (other, mine), (core, mine), (core, INVITE),
                          (core, mine.replace("@10.0.0.1", "@10.0.0.1:5070"))):
        script.run("request", "0", make_ctx(ctx_core, raw))
    assert rec_texts(mods["testmod"]) == ["me", "me", "other", "me", "other", "other"]


def test_status_keyword_in_reply_route():
    rc, ctx, mod, _ = run('onreply_route[1] { if (status == "200") rec("ok"); if (status =~ "^2") rec("2xx"); }',
                          raw=REPLY_200, kind="onreply", name="1", route_type=RouteType.ONREPLY)
    assert rec_texts(mod) == ["ok", "2xx"]


# --- control flow (Appendix A 9) -------------------------------------------------------------------

def test_while_guard_default_100(caplog):
    with caplog.at_level(logging.INFO, logger="opensipsg.script"):
        rc, ctx, mod, core = run("""
route { $var(i) = 0; while (1) { $var(i) = $var(i) + 1; } rec("$var(i)"); }
""")
    assert rec_texts(mod) == ["100"]


def test_while_guard_configurable_and_normal_loop():
    rc, ctx, mod, _ = run("""
max_while_loops = 5
route {
    $var(i) = 0; while ($var(i) < 3) { $var(i) += 1; } rec("$var(i)");
    $var(j) = 0; while (1) { $var(j) += 1; } rec("$var(j)");
}
""")
    assert rec_texts(mod) == ["3", "5"]


def test_recursion_limit():
    rc, ctx, mod, _ = run("""
route { $var(d) = 0; route(1); rec("depth $var(d)"); }
route[1] { $var(d) += 1; route(1); }
""")
    assert rec_texts(mod) == ["depth 100"]


def test_switch_fallthrough_case_insensitive_default():
    text = """
route {
    switch ($rU) {
        case "BOB": rec("bob");
        case "carol": rec("carol"); break;
        case 5: rec("five");
        default: rec("default");
    }
    switch ($cs) {
        case 314159: rec("int-case");
        break;
        case "x": rec("x");
    }
    switch ($fU) {
        case "nobody": rec("no");
    }
    rec("end");
}
"""
    rc, ctx, mod, _ = run(text)
    assert rec_texts(mod) == ["bob", "carol", "int-case", "end"]
    raw = INVITE.replace("sip:bob@example.com SIP", "sip:zed@example.com SIP")
    rc, ctx, mod, _ = run(text, raw=raw)
    assert rec_texts(mod) == ["default", "int-case", "end"]


def test_break_inside_if_in_case():
    rc, ctx, mod, _ = run("""
route {
    switch ($rU) {
        case "bob":
            if (1) { rec("a"); break; }
            rec("never");
        default: rec("never2");
    }
    rec("after");
}
""")
    assert rec_texts(mod) == ["a", "after"]


# --- flags and variables (Appendix A 6) ---------------------------------------------------------------

def test_script_flags_reset_per_top_level_run_vars_persist():
    script, core, mods = build(LOAD + """
route {
    if (issflagset(3)) rec("sflag-still-set");
    setsflag(3);
    $var(count) = $var(count) + 1;
    setflag(4);
    rec("$var(count) $sf $mf");
}
""")
    ctx1 = make_ctx(core)
    script.run("request", "0", ctx1)
    ctx2 = make_ctx(core)
    ctx2.sflags = 8
    script.run("request", "0", ctx2)
    assert rec_texts(mods["testmod"]) == ["1 8 16", "2 8 16"]


def test_flag_range_checked_at_load():
    with pytest.raises(ScriptError) as err:
        build("route {\n  setflag(32);\n}\n")
    assert (err.value.line, err.value.col) == (2, 11)
    assert "out of range" in err.value.message


# --- AVPs (Appendix A 6, 7) ---------------------------------------------------------------------

def test_avp_stack_semantics():
    rc, ctx, mod, _ = run("""
route {
    $avp(s:a) = 1; $avp(s:a) = 2; $avp(s:a) = "three";
    rec("$avp(s:a) $(avp(s:a)[1]) $(avp(s:a)[-1]) $(avp(s:a)[*])");
    $avp(s:a) = NULL;
    rec("$avp(s:a)");
    $(avp(s:a)[1]) = "x";
    rec("$(avp(s:a)[*])");
    $(avp(s:a)[0]) = NULL;
    rec("$(avp(s:a)[*])");
    $avp(s:a) := "only";
    rec("$(avp(s:a)[*])");
    $avp(s:a) := NULL;
    rec("$avp(s:a)");
}
""")
    assert rec_texts(mod) == ["three 2 1 three,2,1", "2", "2,x", "x", "only", "<null>"]


def test_avp_aliases_and_int_names(caplog):
    with caplog.at_level(logging.WARNING, logger="opensipsg.script"):
        rc, ctx, mod, _ = run("""
avp_aliases = "caller=i:10; Tgt=s:target"
route {
    $avp(caller) = "a"; rec("$avp(i:10)");
    $avp(tgt) = "t"; rec("$avp(s:target)");
    $avp(bare) = "b"; rec("$avp(s:bare)");
    $avp(i1:11) = 4; rec("$avp(i:11)");
}
""")
    assert rec_texts(mod) == ["a", "t", "b", "4"]
    assert any("bare" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_dynamic_avp_name_and_index():
    rc, ctx, mod, _ = run("""
route {
    $var(n) = "dyn"; $avp($var(n)) = "v1"; $avp(s:dyn) = "v2";
    $var(i) = 1;
    rec("$avp(s:dyn) $(avp(s:dyn)[$var(i)]) $avp($var(n))");
}
""")
    assert rec_texts(mod) == ["v2 v1 v2"]


# --- writable PVs (section 1.5) -----------------------------------------------------------------

def test_ruri_parts_and_du_assignment():
    rc, ctx, mod, _ = run("""
route {
    $rU = "carol"; $rd = "biloxi.com"; $rp = 5080;
    $du = "sip:10.1.1.1:5070";
    rec("$ru $ou $du $dd $dp");
    $du = NULL;
    rec("$du");
    $ru = "sip:dave@x.org";
    rec("$ru $rU $rd $rp $rP");
}
""")
    assert rec_texts(mod) == ["sip:carol@biloxi.com:5080 sip:bob@example.com sip:10.1.1.1:5070 10.1.1.1 5070",
                              "<null>", "sip:dave@x.org dave x.org 5060 udp"]


def test_branch_pv_write_appends_and_fields():
    rc, ctx, mod, _ = run("""
route {
    $branch = "sip:b1@x.org";
    $branch = "sip:b2@x.org";
    $(branch(q)[1]) = "0.5";
    $(branch(duri)[0]) = "sip:1.2.3.4";
    rec("$branch $(branch(uri)[1]) $(branch(q)[1]) $(branch(duri)[0]) $(branch(uri)[*])");
}
""")
    assert rec_texts(mod) == ["sip:b1@x.org sip:b2@x.org 0.5 sip:1.2.3.4 sip:b1@x.org,sip:b2@x.org"]
    assert len(ctx.branches) == 2


def test_flags_pvs_writable():
    rc, ctx, mod, _ = run("""
route { $mf = 5; $bf = 2; $sF = "ff"; rec("$mf $mF $bf $sf"); if (isflagset(2)) rec("f2"); }
""")
    assert rec_texts(mod) == ["5 00000005 2 255", "f2"]


def test_read_only_pv_assignment_is_load_error():
    with pytest.raises(ScriptError) as err:
        build("route {\n    $ci = 1;\n}\n")
    assert "read-only" in err.value.message and err.value.line == 2


# --- error route ------------------------------------------------------------------------------------

def test_error_route_runs_on_parse_error_and_continues():
    rc, ctx, mod, _ = run("""
route { boom(); rec("after $rc $err.class"); }
error_route { rec("error $err.class $err.rcode $err.rreason"); }
""")
    assert rec_texts(mod) == ["error 1 400 bad header", "after -1 0"]


def test_error_route_exit_stops():
    rc, ctx, mod, _ = run("""
route { boom(); rec("after"); }
error_route { rec("error"); exit; }
""")
    assert rec_texts(mod) == ["error"] and ctx.stop


def test_parse_error_without_error_route_returns_minus_one(caplog):
    with caplog.at_level(logging.ERROR, logger="opensipsg.script"):
        rc, ctx, mod, _ = run('route { if (!boom()) rec("false $rc"); }')
    assert rec_texts(mod) == ["false -1"]
    assert any("bad header" in r.getMessage() for r in caplog.records)


def test_error_route_not_triggered_from_reply_route():
    rc, ctx, mod, _ = run("""
onreply_route[1] { boom(); rec("after"); }
error_route { rec("error"); }
""", raw=REPLY_200, kind="onreply", name="1", route_type=RouteType.ONREPLY)
    assert rec_texts(mod) == ["after"]


# --- binding errors with positions (Appendix A 5, 14) -------------------------------------------------

def _err(text: str, file: str = "t.cfg") -> ScriptError:
    with pytest.raises(ScriptError) as err:
        build(text, file=file)
    return err.value


def test_unknown_function_position():
    e = _err(LOAD + "route {\n    if (1) {\n        no_such_fn(\"a\");\n    }\n}\n")
    assert e.message == "unknown function 'no_such_fn'"
    assert (e.file, e.line, e.col) == ("t.cfg", 4, 9)
    assert str(e).startswith("t.cfg:4:9:")


def test_bad_arity():
    e = _err(LOAD + 'route {\n  two("a");\n}\n')
    assert "'two'" in e.message and "2 argument" in e.message and (e.line, e.col) == (3, 3)
    e = _err(LOAD + 'route {\n  rec("a", "b");\n}\n')
    assert "0 or 1" in e.message


def test_numbers_as_module_params():
    e = _err(LOAD + 'route {\n  two("a", 5);\n}\n')
    assert e.message == "numbers used as parameters - they should be quoted"
    assert (e.line, e.col) == (3, 12)


def test_quoted_int_accepted_for_module_and_bad_int_rejected():
    script, core, mods = build(LOAD + 'route { two("a", "5"); }')
    script.run("request", "0", make_ctx(core))
    assert mods["testmod"].calls == [("two", ("a", 5))]
    e = _err(LOAD + 'route {\n two("a", "five");\n}\n')
    assert "not a number" in e.message and e.line == 3


def test_wrong_route_type_including_transitive_subroutes():
    e = _err(LOAD + 'failure_route[1] {\n  req_only();\n}\n')
    assert "req_only" in e.message and "failure_route" in e.message and (e.line, e.col) == (3, 3)
    e = _err(LOAD + """
route { route(2); }
failure_route[1] { route(2); }
route[2] {
  route(3);
}
route[3] {
    req_only();
}
""")
    assert "failure_route" in e.message and e.line == 9
    # called only from request routes: fine
    build(LOAD + "route { route(2); }\nroute[2] { req_only(); }\n")
    # branch route calling a [R|F] function
    e = _err(LOAD + 'branch_route[1] {\n  two("a", "1");\n}\n')
    assert "branch_route" in e.message


def test_missing_routes():
    e = _err(LOAD + "route {\n  route(9);\n}\n")
    assert "route '9'" in e.message and (e.line, e.col) == (3, 3)
    e = _err(LOAD + 'route {\n  t_on_failure("7");\n}\n')
    assert "failure_route[7]" in e.message and (e.line, e.col) == (3, 16)
    build(LOAD + 'route { t_on_failure("7"); }\nfailure_route[7] { exit; }')


def test_obsolete_function():
    e = _err(LOAD + "route {\n  old_func();\n}\n")
    assert e.message == "old_func() is obsolete: use new_func()" and e.line == 3


def test_unknown_pv_and_transformation_positions():
    e = _err("route {\n  $var(x) = $nope;\n}\n")
    assert "$nope" in e.message and e.line == 2
    e = _err('route {\n  xlog("$(ru{s.bogus})");\n}\n')
    assert "s.bogus" in e.message and e.line == 2


def test_bad_static_regex_is_load_error():
    e = _err('route {\n  if ($ru =~ "a(") exit;\n}\n')
    assert "regular expression" in e.message and e.line == 2


def test_module_function_fixups_regex_pv_fmt():
    rc, ctx, mod, _ = run("""
route {
    if (match("^sip:BOB@")) rec("match");
    setpv("$var(v)", "x-$rU");
    rec("$var(v)");
}
""")
    assert rec_texts(mod) == ["match", "x-bob"]


# --- run API -----------------------------------------------------------------------------------------

def test_script_api():
    script, core, mods = build(LOAD + """
route { exit; }
route[a] { return(3); }
branch_route[b1] { drop; }
failure_route[f1] { rec("f"); }
onreply_route { rec("global"); }
onreply_route[r1] { rec("r1"); }
error_route { exit; }
local_route { rec("local"); }
startup_route { $var(started) = 1; }
timer_route[tick, 5] { $var(ticks) = $var(ticks) + 1; }
""")
    assert script.has("request", "0") and script.has("route", "a") and script.has("branch", "b1")
    assert script.has("onreply", "0") and script.has("onreply", "r1") and script.has("error", "0")
    assert not script.has("failure", "zz")
    assert script.timer_routes == [("tick", 5)]
    assert sorted(script.route_names("route")) == ["0", "a"]
    ctx = RouteContext(core, None, RouteType.STARTUP)
    script.run("startup", "0", ctx)
    ctx = RouteContext(core, None, RouteType.TIMER)
    script.run("timer", "tick", ctx)
    script.run("timer", "tick", ctx)
    assert core.script_vars == {"started": 1, "ticks": 2}
    ctx = make_ctx(core, route_type=RouteType.BRANCH)
    assert script.run("branch", "b1", ctx) == 0 and ctx.dropped
    assert script.run("route", "a", make_ctx(core)) == 3


# --- book-style script ----------------------------------------------------------------------------------

BOOK = LOAD + """
debug = 3
avp_aliases = "fwd=s:callfwd"

route {
    if ($hdr(Max-Forwards) == "0") { rec("483"); exit; }
    if (has_totag()) {
        rec("in-dialog");
        exit;
    }
    if (method == "CANCEL") { rec("cancel"); exit; }
    if (method == "INVITE") { setflag(1); }
    if (!(uri == myself)) {
        rec("outbound $ru");
        route(1);
    }
    if (method == "REGISTER") {
        if (!code("auth")) {
            rec("challenge");
            exit;
        }
        rec("register $au@$ad realm=$ar");
        exit;
    }
    if ($rU == NULL) { rec("484"); exit; }
    $avp(fwd) = "sip:voicemail@10.0.0.9";
    if (!code("lookup")) {
        switch ($retcode) {
            case -1:
            case -3:
                rec("404"); exit;
            case -2:
                rec("405"); exit;
        }
    }
    setflag(2);
    route(1);
}

route[1] {
    if (is_method("INVITE")) {
        t_on_failure("1");
        setbflag(6);
    }
    rec("relay $ru flags=$mf bflags=$bf");
    exit;
}

failure_route[1] {
    if (code("cancelled")) exit;
    if ($avp(fwd) != NULL) {
        $ru = $avp(fwd);
        append_branch();
        rec("forward to $ru branches=$(branch(uri)[*])");
    }
}
"""


@register_module
class BookHelpers(Module):
    name = "bookhelp"

    @function("has_totag", routes=R)
    def has_totag(self, ctx: Any) -> int:
        return 1 if ctx.msg.to_tag else -1

    @function("is_method", "str", routes=ALL_ROUTES)
    def is_method(self, ctx: Any, methods: str) -> int:
        return 1 if ctx.msg.method.upper() in methods.upper().split("|") else -1


def test_book_style_script_on_several_messages():
    core = FakeCore()
    script, core, mods = build(BOOK.replace(LOAD, LOAD + 'loadmodule "bookhelp.so"\n'), core)
    mod = mods["testmod"]
    # INVITE to a local user, found
    mod.codes["code:lookup"] = 1
    raw = INVITE.replace("sip:bob@example.com SIP", "sip:bob@proxy.example.com SIP")
    ctx = make_ctx(core, raw)
    assert script.run("request", "0", ctx) == 0
    assert rec_texts(mod) == ["relay sip:bob@proxy.example.com flags=6 bflags=64"]
    assert ctx.armed == {"failure": "1"}
    # failure route on the same transaction: forwards to the AVP target
    fctx = make_ctx(core, raw, route_type=RouteType.FAILURE)
    fctx.avps = ctx.avps
    mod.calls.clear()
    mod.codes["code:cancelled"] = -1
    script.run("failure", "1", fctx)
    assert rec_texts(mod) == ["forward to sip:voicemail@10.0.0.9 branches=sip:voicemail@10.0.0.9"]
    # not found
    mod.calls.clear()
    mod.codes["code:lookup"] = -3
    script.run("request", "0", make_ctx(core, raw))
    assert rec_texts(mod) == ["404"]
    # outbound
    mod.calls.clear()
    script.run("request", "0", make_ctx(core))
    assert rec_texts(mod) == ["outbound sip:bob@example.com", "relay sip:bob@example.com flags=2 bflags=64"]
    # REGISTER with credentials
    mod.calls.clear()
    reg = REGISTER.replace("sip:example.com SIP", "sip:proxy.example.com SIP")
    script.run("request", "0", make_ctx(core, reg))
    assert rec_texts(mod) == ["register alice@example.com realm=example.com"]
    # REGISTER challenged: the auth function returns 0 -> script stops silently
    mod.calls.clear()
    mod.codes["code:auth"] = 0
    ctx = make_ctx(core, reg)
    assert script.run("request", "0", ctx) == 0 and ctx.stop
    assert rec_texts(mod) == []
    # in-dialog
    mod.calls.clear()
    indialog = INVITE.replace("To: Bob <sip:bob@example.com>", "To: Bob <sip:bob@example.com>;tag=99")
    script.run("request", "0", make_ctx(core, indialog))
    assert rec_texts(mod) == ["in-dialog"]


def test_main_route_is_lean():
    """Not a benchmark: just runs a stock-like main route many times to catch pathologies."""
    import time
    script, core, mods = build(BOOK.replace(LOAD, LOAD + 'loadmodule "bookhelp.so"\n'))
    raw = INVITE.replace("sip:bob@example.com SIP", "sip:bob@proxy.example.com SIP")
    msg = parse(raw.encode())
    start = time.perf_counter()
    for _ in range(200):
        ctx = RouteContext(core, msg, RouteType.REQUEST, src_ip="192.168.1.2", src_port=5060)
        script.run("request", "0", ctx)
    assert time.perf_counter() - start < 5  # generous sanity bound only


def test_finished_runs_keep_nothing_alive():
    # break and a 0 inside an expression end a run with an exception: its traceback must
    # not outlive the run (a shared exception instance once chained every run's frames)
    import gc
    import weakref

    script, core, mods = build(LOAD + """
route {
    switch ($rm) { case "INVITE": rec("i"); break; default: rec("d"); }
    route(1);
}
route[1] { if (code("zero") || 1) { rec("no"); } exit; }
""")
    mods["testmod"].codes["code:zero"] = 0
    class Probe:
        pass

    refs = []
    gc.collect()
    gc.disable()  # refcounting alone must free them
    try:
        for _ in range(3):
            ctx = make_ctx(core)
            ctx.extra["probe"] = probe = Probe()
            refs.append(weakref.ref(probe))
            del probe
            assert script.run("request", "0", ctx) == 0
            del ctx
        assert [r() for r in refs] == [None, None, None]
    finally:
        gc.enable()


def test_request_route_is_the_main_route_and_ends_with_route_end():
    from opensipsg.script.compiler import RouteEnd

    script, core, _ = build(LOAD + 'route { if (method == "INVITE") return(2); exit; }')
    ctx = make_ctx(core)
    with pytest.raises(RouteEnd):
        script.request_route(ctx)  # return(2) unwinds (Script.run turns it into 2)
    assert script.request_route(make_ctx(core, REGISTER)) == 0
    assert build('startup_route { exit; }')[0].request_route is not None


def test_generated_blocks_keep_retcode_rules_and_deep_nesting():
    # blocks are generated functions (_BlockWriter); branches nested deeper than its
    # MAX_DEPTH are functions of their own: the same results either way
    from opensipsg.script.compiler import _BlockWriter

    deep = 'if (code("t")) {' * (_BlockWriter.MAX_DEPTH + 6) + 'rec("deep $rc");' \
        + '}' * (_BlockWriter.MAX_DEPTH + 6)
    rc, ctx, mod, _ = run("""
route {
    if (code("neg")) { rec("no"); }
    rec("$rc");
    if (!code("neg")) { code("b"); } else { rec("no"); }
    rec("$rc");
    { code("neg"); }
    rec("$rc");
    %s
    if (code("zero")) { rec("no"); }
    rec("not reached");
}
""" % deep, codes={"code:neg": -4, "code:b": 3, "code:t": 2, "code:zero": 0})
    assert rec_texts(mod) == ["-4", "3", "-4", "deep 2"]
    assert rc == 0 and ctx.retcode == 0


def test_route_recursion_limit_returns_minus_one_and_the_caller_goes_on():
    rc, ctx, mod, _ = run("""
route { route(1); rec("$rc"); }
route[1] { route(1); }
""")
    assert rec_texts(mod) == ["-1"] and ctx.depth == 0



# --- functions written inline (script_inline) ---------------------------------------------------

INLINE = """
loadmodule "textops.so"
loadmodule "uri.so"
route {
    if (is_method("INVITE|bye")) $var(m) = $retcode; else $var(m) = $retcode;
    if (has_totag()) $var(t) = $retcode; else $var(t) = $retcode;
    is_method("REGISTER");
    $var(s) = $retcode;
}
onreply_route[1] {
    if (is_method("INVITE")) $var(m) = $retcode; else $var(m) = $retcode;
}
"""

_TO = "To: Bob <sip:bob@example.com>"


@pytest.mark.parametrize("raw", [
    INVITE, REGISTER, INVITE.replace(_TO, _TO + ";tag=9z"), INVITE.replace(_TO, _TO + ";xtag"),
    INVITE.replace(_TO, "To: Bob <sip:bob@example.com;tag=1"),  # tag in a broken To
])
def test_inline_functions_give_the_module_functions_codes(raw):
    script, core, mods = build(INLINE)
    textops, uri = mods["textops"], mods["uri"]
    assert textops.is_method.script_inline and uri.has_totag.script_inline  # (written inline)
    script.run("request", "0", make_ctx(core, raw))
    ctx = make_ctx(core, raw)
    assert core.script_vars == {"m": textops.is_method(ctx, "INVITE|BYE"), "t": uri.has_totag(ctx),
                                "s": textops.is_method(ctx, "REGISTER")}


@pytest.mark.parametrize("raw", [REPLY_200, REPLY_200.replace("CSeq: 314159 INVITE", "CSeq: 2 BYE")])
def test_inline_is_method_on_a_reply(raw):
    script, core, mods = build(INLINE)
    script.run("onreply", "1", make_ctx(core, raw, route_type=RouteType.ONREPLY))
    assert core.script_vars == {"m": mods["textops"].is_method(make_ctx(core, raw), "INVITE")}
    assert core.script_vars["m"] == (1 if "INVITE" in raw else -1)


@pytest.mark.parametrize("ruri, expected", [("sip:bob@example.com", ["set", "not-null"]),
                                            ("sip:example.com", ["null", "not-set"])])
def test_null_tests_written_inline_in_a_block(ruri, expected):
    raw = INVITE.replace("sip:bob@example.com SIP", f"{ruri} SIP")
    _, ctx, mod, _ = run("""
route {
    if ($rU == NULL) rec("null"); else rec("set");
    if (!($rU != NULL)) rec("not-set"); else rec("not-null");
}
""", raw)
    assert rec_texts(mod) == expected
