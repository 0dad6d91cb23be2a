import logging

import pytest

from opensipsg.errors import ScriptError
from opensipsg.registry import RouteType
from tests.script.test_compiler import INVITE, LOAD, build, make_ctx, rec_texts, run


def test_uri_rewriting_functions():
    rc, ctx, mod, _ = run("""
route {
    setuser("carol"); rec("$ru");
    sethost("biloxi.com"); rec("$ru");
    setport("5070"); rec("$ru");
    sethostport("10.1.1.1:5080"); rec("$ru");
    sethp("h.org"); rec("$ru");
    prefix("00"); rec("$ru");
    strip(1); rec("$ru");
    strip_tail(2); rec("$ru");
    setuserpass("pw"); rec("$ru");
    rewriteuri("sip:x@y.org"); rec("$ru $du");
    revert_uri(); rec("$ru");
    setdsturi("sip:1.2.3.4:5090"); if (isdsturiset()) rec("$du");
    resetdsturi(); if (!isduriset()) rec("no du");
}
""")
    assert rec_texts(mod) == [
        "sip:carol@example.com", "sip:carol@biloxi.com", "sip:carol@biloxi.com:5070",
        "sip:carol@10.1.1.1:5080", "sip:carol@h.org", "sip:00carol@h.org", "sip:0carol@h.org",
        "sip:0car@h.org", "sip:0car:pw@h.org", "sip:x@y.org <null>", "sip:bob@example.com",
        "sip:1.2.3.4:5090", "no du",
    ]


def test_flags_functions():
    rc, ctx, mod, _ = run("""
route {
    setflag(1); setflag(31); resetflag(1);
    if (isflagset(31) && !isflagset(1)) rec("mflags $mf");
    setbflag(6); setbranchflag(0, 7); if (isbflagset(6) && isbranchflagset(0, 7)) rec("bflags $bf");
    resetbflag(7); if (!isbflagset(0, 7)) rec("reset");
    setsflag(2); setscriptflag(3); resetscriptflag(2);
    if (issflagset(3) && !isscriptflagset(2)) rec("sflags $sf");
    append_branch();
    setbflag(1, 5); if (isbflagset(1, 5) && isbflagset(1, 6)) rec("branch1");
    if (!isbflagset(2, 5)) rec("no branch 2");
}
""")
    assert rec_texts(mod) == ["mflags 2147483648", "bflags 192", "reset", "sflags 8", "branch1",
                              "no branch 2"]


def test_append_branch_semantics():
    rc, ctx, mod, _ = run("""
route {
    $du = "sip:10.0.0.5"; setbflag(3);
    append_branch();
    rec("$du $bf $(branch(uri)[0]) $(branch(duri)[0]) $(branch(flags)[0])");
    $du = "sip:10.0.0.6";
    append_branch("sip:carol@x.org", "0.3");
    rec("$ru $(branch(uri)[1]) $(branch(duri)[1]) $(branch(q)[1])");
}
""")
    assert rec_texts(mod) == ["<null> 0 sip:bob@example.com sip:10.0.0.5 8",
                              "sip:bob@example.com sip:carol@x.org sip:10.0.0.6 0.3"]


def test_max_branches():
    body = "".join(f'append_branch("sip:u{i}@x.org");' for i in range(13))
    rc, ctx, mod, _ = run("route { " + body + " }")
    assert len(ctx.branches) == 11  # 12 including the R-URI branch


def test_pv_printf_and_avp_printf():
    rc, ctx, mod, _ = run("""
route {
    pv_printf("$var(x)", "u=$rU d=$rd");
    avp_printf("$avp(s:a)", "1"); avp_printf("$avp(s:a)", "2-$rU");
    rec("$var(x)|$(avp(s:a)[*])");
}
""")
    assert rec_texts(mod) == ["u=bob d=example.com|2-bob"]


def test_forward_send_and_sockets():
    rc, ctx, mod, core = run("""
route {
    force_rport(); add_local_rport();
    set_advertised_address("pub.example.com"); set_advertised_port(5099);
    if (force_send_socket(udp:10.0.0.1:5060)) rec("sock $fs");
    if (!force_send_socket(tcp:10.0.0.1:5060)) rec("not listening");
    forward();
    forward("udp:10.2.2.2:5070");
    $var(d) = "10.3.3.3";
    forward("$var(d):5080");
    send("tcp:10.4.4.4");
}
""")
    assert rec_texts(mod) == ["sock udp:10.0.0.1:5060", "not listening"]
    # force_rport(): replies go to the source port, as if the Via had asked for rport
    assert ctx.request.via1.rport == "5060" and ctx.request.via1.received == "192.168.1.2"
    assert ctx.extra["force_local_rport"]
    assert ctx.extra["advertised_address"] == "pub.example.com" and ctx.extra["advertised_port"] == 5099
    assert core.forwarded == [("sip:bob@example.com", None, None),
                              ("sip:bob@example.com", None, "udp:10.2.2.2:5070"),
                              ("sip:bob@example.com", None, "10.3.3.3:5080")]
    assert core.sent == ["tcp:10.4.4.4"]


def test_bad_socket_and_destination_are_load_errors():
    with pytest.raises(ScriptError) as err:
        build("route {\n  force_send_socket(udp:1.2.3.4:99999);\n}\n")
    assert err.value.line == 2
    with pytest.raises(ScriptError):
        build('route { forward("udp:host:notaport"); }')


def test_log_levels(caplog):
    with caplog.at_level(logging.DEBUG, logger="opensipsg.script"):
        run("""
route {
    log("plain $rU");
    log(1, "warn text");
    xlog("default $rU");
    xlog(L_INFO, "info $rm");
    xlog("L_WARN", "quoted level");
    $var(l) = 3;
    xlog($var(l), "pv level");
    xdbg("dbg $ci");
}
""")
    got = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert got == [
        (logging.DEBUG, "plain $rU"),
        (logging.WARNING, "warn text"),
        (logging.ERROR, "default bob"),
        (logging.INFO, "info INVITE"),
        (logging.WARNING, "quoted level"),
        (logging.INFO, "pv level"),
        (logging.DEBUG, "dbg a84b4c76e66710@pc33.atlanta.com"),
    ]


def test_xlog_null_and_bad_level():
    rc, ctx, mod, _ = run('route { rec("$avp(s:none)"); }')
    assert rec_texts(mod) == ["<null>"]
    with pytest.raises(ScriptError) as err:
        build('route {\n  xlog(L_BOGUS, "x");\n}\n')
    assert "xlog level" in err.value.message


def test_serialize_and_next_branches_request_route():
    rc, ctx, mod, _ = run("""
route {
    append_branch("sip:low@x.org", "0.1");
    append_branch("sip:high1@x.org", "1");
    append_branch("sip:high2@x.org", "1");
    append_branch("sip:mid@x.org", "0.5");
    serialize_branches(1);
    rec("branches after serialize: $(branch(uri)[*])");
    next_branches(); rec("$rc $ru $(branch(uri)[*])");
    next_branches(); rec("$rc $ru");
    next_branches(); rec("$rc $ru");
    if (!next_branches()) rec("none left");
}
""")
    out = rec_texts(mod)
    assert out[0] == "branches after serialize: <null>"
    # the R-URI has no q -> 1.0: it is in the first set with high1/high2
    assert out[1].startswith("1 sip:bob@example.com") and "high1" in out[1] and "high2" in out[1]
    assert out[2] == "1 sip:mid@x.org"
    assert out[3] == "2 sip:low@x.org"
    assert out[4] == "none left"


def test_next_branches_failure_route_appends():
    script, core, mods = build('loadmodule "testmod.so"\n'
                               'route { append_branch("sip:a@x.org", "0.2"); serialize_branches(1); }\n'
                               'failure_route[1] { next_branches(); next_branches(); rec("$(branch(uri)[*])"); }')
    ctx = make_ctx(core)
    script.run("request", "0", ctx)
    fctx = make_ctx(core, route_type=RouteType.FAILURE)
    fctx.avps = ctx.avps
    script.run("failure", "1", fctx)
    assert rec_texts(mods["testmod"]) == ["sip:bob@example.com,sip:a@x.org"]


def test_setdebug_and_error_noop():
    class Core:
        pass
    rc, ctx, mod, core = run('route { setdebug(4); setdebug(); error("a", "b"); rec("ok"); }')
    assert rec_texts(mod) == ["ok"]


def test_core_functions_accept_bare_numbers_and_quoted():
    rc, ctx, mod, _ = run('route { setflag("3"); strip("1"); if (isflagset(3)) rec("$rU"); }')
    assert rec_texts(mod) == ["ob"]


def test_branch0_sets_every_branch_field():
    # branch0() writes the fields itself (no Branch.__init__): a new field must be set there too
    from dataclasses import fields

    from opensipsg.script.context import Branch

    _, core, _ = build(LOAD + "route { exit; }")
    ctx = make_ctx(core)
    plain = ctx.branch0()
    assert plain == Branch("sip:bob@example.com")
    ctx.new_uri, ctx.dst_uri, ctx.path = "sip:a@b.org", "sip:1.2.3.4", "<sip:p.org;lr>"
    ctx.q, ctx.bflags, ctx.force_socket = 500, 6, "udp:10.0.0.1:5060"
    made = ctx.branch0()
    assert made == Branch("sip:a@b.org", "sip:1.2.3.4", "<sip:p.org;lr>", 500, 6, "udp:10.0.0.1:5060")
    assert all(hasattr(made, f.name) for f in fields(Branch))
    assert made is not ctx.branch0()  # a new one each time: t_relay's targets are changed in place
