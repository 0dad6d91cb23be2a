"""Tests for opensipsg.script.parser."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from opensipsg.errors import ScriptError
from opensipsg.script import ast
from opensipsg.script.ast import Pos
from opensipsg.script.parser import load_config, parse_config, parse_format, parse_pv

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "tests" / "data" / "cfg" / "book.cfg"
DEFAULT_CFG = ROOT / "etc" / "opensipsg.cfg"
P = Pos("t.cfg", 1, 1)


# --- helpers -------------------------------------------------------------------

def show(node: object) -> str:
    """Compact S-expression of an expression, for precedence tests."""
    if isinstance(node, ast.BoolOp | ast.Compare | ast.Arith):
        return f"({show(node.left)} {node.op} {show(node.right)})"
    if isinstance(node, ast.Not):
        return f"!{show(node.expr)}"
    if isinstance(node, ast.BitNot):
        return f"~{show(node.expr)}"
    if isinstance(node, ast.Test):
        return f"[{show(node.expr)}]"
    if isinstance(node, ast.Const):
        return "NULL" if node.value is None else repr(node.value)
    if isinstance(node, ast.Myself):
        return "myself"
    if isinstance(node, ast.Ident | ast.Keyword):
        return node.name
    if isinstance(node, ast.Addr):
        return f"<{node.text}>"
    if isinstance(node, ast.PVExpr):
        return node.pv.text
    if isinstance(node, ast.CallExpr):
        call = node.call
        if isinstance(call, ast.RouteCall):
            return f"route({call.name})"
        return f"{call.name}({','.join(str(a.value) for a in call.args)})"
    raise AssertionError(f"unexpected node {node!r}")


def main_body(text: str) -> tuple[ast.Stmt, ...]:
    cfg = parse_config("route {\n" + text + "\n}", "t.cfg")
    return cfg.routes["0"].body.statements


def one(text: str) -> ast.Stmt:
    statements = main_body(text)
    assert len(statements) == 1
    return statements[0]


def cond(text: str) -> ast.Expr:
    stmt = one(f"if ({text}) exit;")
    assert isinstance(stmt, ast.If)
    return stmt.cond


def value(text: str) -> ast.Expr:
    stmt = one(f"$var(x) = {text};")
    assert isinstance(stmt, ast.Assign)
    return stmt.value


def error(text: str) -> str:
    with pytest.raises(ScriptError) as info:
        parse_config(text, "t.cfg")
    return str(info.value)


# --- conditions and precedence --------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("a || b && c", "((a || b) && c)"),
    ("a && b || c", "((a && b) || c)"),
    ("a or b and c", "((a || b) && c)"),
    ("a || (b && c)", "(a || (b && c))"),
    ("!a && b", "(!a && b)"),
    ("not a || b", "(!a || b)"),
    ("!!a", "!!a"),
    ("!$x == 1", "!($x == 1)"),
    ("!uri==myself", "!(uri == myself)"),
    ("$rU == NULL", "($rU == NULL)"),
    ("$var(a) != $var(b)", "($var(a) != $var(b))"),
    ("$rs >= 200 && $rs < 300", "(($rs >= 200) && ($rs < 300))"),
    ('$ru =~ "^sip:1" || $ru !~ "x"', "(($ru =~ '^sip:1') || ($ru !~ 'x'))"),
    ("$fd == myself", "($fd == myself)"),
    ("myself == uri", "(myself == uri)"),
    ("$var(t) == -1", "($var(t) == -1)"),
    ("$pr == udp", "($pr == udp)"),
    ("1", "1"),
    ("$var(x)", "$var(x)"),
    ("[$var(a) + 1]", "[($var(a) + 1)]"),
    ("[1 + 2 * 3] && b", "([((1 + 2) * 3)] && b)"),
    ('is_method("INVITE") && !has_totag()', "(is_method(INVITE) && !has_totag())"),
    ("route(check) && route(2)", "(route(check) && route(2))"),
])
def test_condition_precedence(text: str, expected: str) -> None:
    assert show(cond(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("1 + 2 * 3", "((1 + 2) * 3)"),
    ("1 * 2 + 3", "((1 * 2) + 3)"),
    ("10 - 2 - 3", "((10 - 2) - 3)"),
    ("8 / 2 % 3", "((8 / 2) % 3)"),
    ("1 + (2 * 3)", "(1 + (2 * 3))"),
    ("1 | 2 + 3", "(1 | (2 + 3))"),
    ("1 + 2 & 3", "((1 + 2) & 3)"),
    ("1 << 2 | 3 >> 1 ^ 4", "((((1 << 2) | 3) >> 1) ^ 4)"),  # one level
    ("~1 & 3", "(~1 & 3)"),
    ("-5 + 2", "(-5 + 2)"),
    ('"a" + $var(b) + "c"', "(('a' + $var(b)) + 'c')"),
    ("$var(x) == 1", "($var(x) == 1)"),
    ("NULL", "NULL"),
    ("is_method(\"BYE\")", "is_method(BYE)"),
    ("0x10", "16"),
])
def test_arithmetic_precedence(text: str, expected: str) -> None:
    assert show(value(text)) == expected


def test_legacy_keywords() -> None:
    assert show(cond('method == "INVITE"')) == "(method == 'INVITE')"
    assert show(cond('method=~"^(INVITE|BYE)$"')) == "(method =~ '^(INVITE|BYE)$')"
    expr = cond('from_uri =~ "@example\\.com"')
    assert isinstance(expr, ast.Compare) and isinstance(expr.right, ast.Const)
    assert (show(expr.left), expr.op, expr.right.value) == ("from_uri", "=~", "@example\\.com")
    assert show(cond("to_uri != myself")) == "(to_uri != myself)"
    assert show(cond('status == "200"')) == "(status == '200')"
    assert show(cond("src_port == 5060")) == "(src_port == 5060)"
    assert show(cond("dst_port >= 1024")) == "(dst_port >= 1024)"
    assert show(cond("proto == tcp")) == "(proto == tcp)"
    assert show(cond("af == inet6")) == "(af == inet6)"
    assert show(cond("msg:len > max_len")) == "(msg:len > max_len)"
    assert show(cond("msg:len >= 4096")) == "(msg:len >= 4096)"


def test_ip_addresses_and_networks_in_conditions() -> None:
    assert show(cond("src_ip == 10.0.0.1")) == "(src_ip == <10.0.0.1>)"
    assert show(cond("src_ip==192.168.0.0/16")) == "(src_ip == <192.168.0.0/16>)"
    assert show(cond("dst_ip != 10.0.0.0/255.0.0.0")) == "(dst_ip != <10.0.0.0/255.0.0.0>)"
    assert show(cond("src_ip == gw.example.com")) == "(src_ip == <gw.example.com>)"
    assert show(cond("src_ip == my-gw.example.com")) == "(src_ip == <my-gw.example.com>)"
    assert show(cond("src_ip == myself")) == "(src_ip == myself)"
    got = show(cond("src_ip == 10.0.0.1 || src_ip == 10.0.0.2"))
    assert got == "((src_ip == <10.0.0.1>) || (src_ip == <10.0.0.2>))"


def test_condition_without_parentheses() -> None:
    stmt = one('if is_method("INVITE") { exit; }')
    assert isinstance(stmt, ast.If)
    assert show(stmt.cond) == "is_method(INVITE)"


def test_node_positions_in_conditions() -> None:
    expr = cond("$a == 1 && b")
    assert isinstance(expr, ast.BoolOp)
    assert (expr.pos.line, expr.pos.col) == (2, 13)
    assert isinstance(expr.left, ast.Compare)
    assert (expr.left.pos.line, expr.left.pos.col) == (2, 8)
    assert isinstance(expr.left.left, ast.PVExpr)
    assert (expr.left.left.pos.line, expr.left.left.pos.col) == (2, 5)


# --- statements -----------------------------------------------------------------

def test_if_else_chain_and_bodies_are_blocks() -> None:
    stmt = one("if (a) xlog(\"1\"); else if (b) { xlog(\"2\"); } else ;")
    assert isinstance(stmt, ast.If)
    assert isinstance(stmt.then, ast.Block) and len(stmt.then.statements) == 1
    assert stmt.else_ is not None
    inner = stmt.else_.statements[0]
    assert isinstance(inner, ast.If)
    assert inner.else_ is not None and inner.else_.statements == ()


def test_dangling_else_binds_to_nearest_if() -> None:
    stmt = one("if (a) if (b) exit; else drop;")
    assert isinstance(stmt, ast.If) and stmt.else_ is None
    inner = stmt.then.statements[0]
    assert isinstance(inner, ast.If) and inner.else_ is not None


def test_while() -> None:
    stmt = one("while ($var(i) < 10) { $var(i) = $var(i) + 1; }")
    assert isinstance(stmt, ast.While)
    assert show(stmt.cond) == "($var(i) < 10)"
    assert isinstance(stmt.body.statements[0], ast.Assign)


def test_switch_keeps_fall_through_structure() -> None:
    stmt = one("""
        switch ($retcode) {
            case -1:
            case -3:
                t_newtran();
                t_reply("404", "Not Found");
                exit;
            case "abc":
                xlog("s");
                break;
            case 0x2:
                xlog("fall");
            default:
                xlog("d");
        }""")
    assert isinstance(stmt, ast.Switch)
    assert stmt.pv.name == "retcode"
    assert [c.label for c in stmt.cases] == [-1, -3, "abc", 2]
    assert stmt.cases[0].body.statements == ()
    assert [type(s).__name__ for s in stmt.cases[1].body.statements] == ["Call", "Call", "Exit"]
    assert isinstance(stmt.cases[2].body.statements[-1], ast.Break)
    assert [type(s).__name__ for s in stmt.cases[3].body.statements] == ["Call"]
    assert stmt.default is not None
    assert len(stmt.default.statements) == 1
    assert (stmt.cases[1].pos.line, stmt.cases[1].pos.col) == (5, 13)


def test_switch_esac_and_nested_break() -> None:
    stmt = one('switch ($rm) { case "INVITE": if (a) { break; } esac; }')
    assert isinstance(stmt, ast.Switch)
    assert stmt.default is None
    body = stmt.cases[0].body.statements
    assert isinstance(body[0], ast.If) and isinstance(body[0].then.statements[0], ast.Break)
    assert isinstance(body[1], ast.Break)


def test_empty_switch() -> None:
    stmt = one("switch ($var(x)) { }")
    assert isinstance(stmt, ast.Switch) and stmt.cases == () and stmt.default is None


@pytest.mark.parametrize("text, expected", [
    ("return;", None),
    ("return();", None),
    ("return(1);", 1),
    ("return(-1);", -1),
    ("return -2;", -2),
    ("return(0);", 0),
])
def test_return_values(text: str, expected: object) -> None:
    stmt = one(text)
    assert isinstance(stmt, ast.Return) and stmt.value == expected


def test_return_pv() -> None:
    stmt = one("return($var(rc));")
    assert isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.PVRef)
    assert stmt.value.name == "var" and stmt.value.param == "rc"


def test_exit_drop_variants() -> None:
    kinds = [type(s).__name__ for s in main_body("exit; exit(); drop; drop();")]
    assert kinds == ["Exit", "Exit", "Drop", "Drop"]


def test_route_calls() -> None:
    calls = main_body('route(1); route(relay); route("named");')
    assert [c.name for c in calls if isinstance(c, ast.RouteCall)] == ["1", "relay", "named"]


def test_empty_statements_and_blocks() -> None:
    assert main_body(";;{ } { ; }") == (ast.Block((), Pos("t.cfg", 2, 3)), ast.Block((), Pos("t.cfg", 2, 7)))


@pytest.mark.parametrize("op", ["=", ":=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^="])
def test_assignment_operators(op: str) -> None:
    stmt = one(f"$avp(s:x) {op} 1;")
    assert isinstance(stmt, ast.Assign) and stmt.op == op
    assert stmt.target.name == "avp" and stmt.target.param == "s:x"


def test_assignment_values() -> None:
    stmt = one("$(avp(i:3)[1]) = NULL;")
    assert isinstance(stmt, ast.Assign)
    assert stmt.target.index == 1 and show(stmt.value) == "NULL"
    stmt = one('$ru = "sip:" + $rU + "@" + $fd;')
    assert isinstance(stmt, ast.Assign)
    assert show(stmt.value) == "((('sip:' + $rU) + '@') + $fd)"
    stmt = one("$var(ok) = is_method(\"INVITE\") && $var(a);")
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.BoolOp)
    stmt = one("$var(h) = $(hdr(Via)[0]{s.len});")
    assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.PVExpr)
    assert stmt.value.pv.transforms[0].name == "s.len"


# --- function calls ----------------------------------------------------------------

def args_of(text: str) -> list[tuple[str, object]]:
    stmt = one(text)
    assert isinstance(stmt, ast.Call)
    return [(a.kind, a.value) for a in stmt.args]


def test_call_argument_kinds() -> None:
    assert args_of('sl_send_reply("404", "Not \\"here\\"");') == [
        ("str", "404"), ("str", 'Not "here"')]
    assert args_of("setflag(3);") == [("int", 3)]
    assert args_of("sl_send_reply(404, 'x');") == [("int", 404), ("str", "x")]
    assert args_of("t_on_failure(-1);") == [("int", -1)]
    assert args_of('xlog(L_INFO, "x");') == [("ident", "L_INFO"), ("str", "x")]
    assert args_of("force_send_socket(udp:1.2.3.4:5060);") == [("raw", "udp:1.2.3.4:5060")]
    assert args_of("force_send_socket(tcp:host.example.com);") == [("raw", "tcp:host.example.com")]
    assert args_of("force_send_socket(10.0.0.1:5061);") == [("raw", "10.0.0.1:5061")]
    assert args_of("f([::1]:5060);") == [("raw", "[::1]:5060")]
    assert args_of("t_relay();") == []
    assert args_of("t_relay;") == []
    kind, pv = args_of('avp_db_load("$ruri", $avp(s:x));')[1]
    assert kind == "pv" and isinstance(pv, ast.PVRef) and pv.param == "s:x"


def test_call_positions() -> None:
    stmt = one('  append_hf("X: y\\r\\n");')
    assert isinstance(stmt, ast.Call)
    assert stmt.pos == Pos("t.cfg", 2, 3)
    assert stmt.args[0].pos == Pos("t.cfg", 2, 13)
    assert stmt.args[0].value == "X: y\r\n"


# --- top level -------------------------------------------------------------------

def test_global_parameters() -> None:
    cfg = parse_config("""
debug=3
log_stderror=no
fork=yes
disable_tcp=on
dns=off
auto_aliases=false
check_via=true
x=enable
y=disable
log_facility=LOG_LOCAL0
debug = -2
children=4;
listen = udp:127.0.0.1:5060
listen=tcp:127.0.0.1:5060 as 1.2.3.4:5060
listen=udp:10.0.0.1 udp:10.0.0.2:5062
alias=example.com
alias="x":5060
alias=udp:sip.example.com:5060
advertised_address=203.0.113.1
mpath="/usr/lib/opensipsg/modules/"
server_header="Server: opensipsg"
tcp_poll_method=epoll
dst_blacklist = gw:{ ( udp , 10.0.0.1 , 5060 , "" ) }
port=5060
""", "t.cfg")
    got = [(g.name, g.value) for g in cfg.globals]
    assert got == [
        ("debug", 3), ("log_stderror", 0), ("fork", 1), ("disable_tcp", 1), ("dns", 0),
        ("auto_aliases", 0), ("check_via", 1), ("x", 1), ("y", 0),
        ("log_facility", "LOG_LOCAL0"), ("debug", -2), ("children", 4),
        ("listen", "udp:127.0.0.1:5060"),
        ("listen", "tcp:127.0.0.1:5060 as 1.2.3.4:5060"),
        ("listen", "udp:10.0.0.1 udp:10.0.0.2:5062"),
        ("alias", "example.com"), ("alias", "x:5060"), ("alias", "udp:sip.example.com:5060"),
        ("advertised_address", "203.0.113.1"),
        ("mpath", "/usr/lib/opensipsg/modules/"),
        ("server_header", "Server: opensipsg"),
        ("tcp_poll_method", "epoll"),
        ("dst_blacklist", 'gw:{ ( udp , 10.0.0.1 , 5060 , "" ) }'),
        ("port", 5060),
    ]
    assert cfg.globals[0].pos == Pos("t.cfg", 2, 1)
    assert cfg.global_values("listen")[0] == "udp:127.0.0.1:5060"


def test_loadmodule_and_modparam() -> None:
    cfg = parse_config("""
loadmodule "tm.so"
loadmodule "/usr/lib/x/usrloc.so";
modparam("usrloc", "db_mode", 0)
modparam("auth_db|usrloc|uri", "use_domain", 1);
modparam("tm", "fr_timer", -1)
modparam("auth_db", "calculate_ha1", yes)
modparam("usrloc", "db_url",
         "mysql://u:p@localhost/db")
modparam("rr", "enable_full_lr", 0x1)
""", "t.cfg")
    assert [m.path for m in cfg.loadmodules] == ["tm.so", "/usr/lib/x/usrloc.so"]
    assert cfg.loadmodules[1].pos == Pos("t.cfg", 3, 1)
    assert [(m.module_regex, m.param, m.value) for m in cfg.modparams] == [
        ("usrloc", "db_mode", 0),
        ("auth_db|usrloc|uri", "use_domain", 1),
        ("tm", "fr_timer", -1),
        ("auth_db", "calculate_ha1", 1),
        ("usrloc", "db_url", "mysql://u:p@localhost/db"),
        ("rr", "enable_full_lr", 1),
    ]
    assert cfg.modparams[4].pos == Pos("t.cfg", 8, 1)


def test_every_route_type() -> None:
    cfg = parse_config("""
route { route(1); }
route[1] { exit; }
route[relay] { exit; }
route["quoted name"] { exit; }
branch_route[2] { }
branch_route[br] { }
failure_route[1] { }
failure_route["fr"] { }
onreply_route { }
onreply_route[2] { }
onreply_route[rp] { }
error_route { exit; }
local_route { }
startup_route { }
timer_route[tick, 30] { }
timer_route["t2", 5] { }
""", "t.cfg")
    assert sorted(cfg.routes) == ["0", "1", "quoted name", "relay"]
    assert sorted(cfg.branch_routes) == ["2", "br"]
    assert sorted(cfg.failure_routes) == ["1", "fr"]
    assert sorted(cfg.onreply_routes) == ["0", "2", "rp"]
    assert cfg.error_route is not None and cfg.error_route.kind == "error_route"
    assert cfg.local_route is not None and cfg.startup_route is not None
    assert {n: t.interval for n, t in cfg.timer_routes.items()} == {"tick": 30, "t2": 5}
    assert cfg.routes["1"].pos == Pos("t.cfg", 3, 1)
    assert cfg.routes["relay"].kind == "route"
    assert cfg.failure_routes["fr"].kind == "failure_route"


def test_route_zero_is_main_route() -> None:
    cfg = parse_config("route[0] { exit; } onreply_route[0] { }", "t.cfg")
    assert list(cfg.routes) == ["0"] and list(cfg.onreply_routes) == ["0"]
    assert cfg.error_route is None and cfg.timer_routes == {}


@pytest.mark.parametrize("text, message", [
    ("route { }\nroute[0] { }",
     "t.cfg:2:1: duplicate definition of route (first defined at t.cfg:1:1)"),
    ("route[1] { }\n  route[1] { }",
     "t.cfg:2:3: duplicate definition of route[1] (first defined at t.cfg:1:1)"),
    ('route[a] { }\nroute["a"] { }',
     "t.cfg:2:1: duplicate definition of route[a] (first defined at t.cfg:1:1)"),
    ("failure_route[1] { }\nfailure_route[1] { }",
     "t.cfg:2:1: duplicate definition of failure_route[1] (first defined at t.cfg:1:1)"),
    ("branch_route[1] { }\nbranch_route[1] { }",
     "t.cfg:2:1: duplicate definition of branch_route[1] (first defined at t.cfg:1:1)"),
    ("onreply_route { }\nonreply_route { }",
     "t.cfg:2:1: duplicate definition of onreply_route (first defined at t.cfg:1:1)"),
    ("error_route { }\nerror_route { }",
     "t.cfg:2:1: duplicate definition of error_route (first defined at t.cfg:1:1)"),
    ("local_route { }\nlocal_route { }",
     "t.cfg:2:1: duplicate definition of local_route (first defined at t.cfg:1:1)"),
    ("startup_route { }\nstartup_route { }",
     "t.cfg:2:1: duplicate definition of startup_route (first defined at t.cfg:1:1)"),
    ("timer_route[t,1] { }\ntimer_route[t,2] { }",
     "t.cfg:2:1: duplicate definition of timer_route[t] (first defined at t.cfg:1:1)"),
])
def test_duplicate_routes(text: str, message: str) -> None:
    assert error(text) == message


def test_same_name_in_different_route_tables_is_fine() -> None:
    cfg = parse_config("route[1] {} branch_route[1] {} failure_route[1] {} onreply_route[1] {}", "t.cfg")
    assert list(cfg.routes) == list(cfg.branch_routes) == list(cfg.failure_routes) == ["1"]


# --- errors ------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ('route {\n\txlog("a")\n\texit;\n}', "t.cfg:3:2: missing ';' after 'xlog(...)' (found 'exit')"),
    ("route { exit; }\n}", "t.cfg:2:1: unexpected '}' at top level"),
    ("route {\n  exit;", "t.cfg:2:8: unexpected end of file: missing '}' to close the block "
                         "opened at line 1, column 7"),
    ('route { xlog("oops); }', "t.cfg:1:14: unterminated string"),
    ("route { if ($a = 1) exit; }", "t.cfg:1:16: unexpected '=' in expression: use '==' to compare"),
    ("route { $var(x) == 1; }",
     "t.cfg:1:17: unexpected '==' after a pseudo-variable: use '=' to assign"),
    ("route { $var(x) 1; }",
     "t.cfg:1:17: expected an assignment operator after '$var(x)', found '1'"),
    ("route { x = 1; }",
     "t.cfg:1:9: cannot assign to 'x': only pseudo-variables ($...) can be assigned"),
    ("route { foo bar; }", "t.cfg:1:13: missing ';' or '(' after 'foo' (found 'bar')"),
    ("route { exit }", "t.cfg:1:14: missing ';' after 'exit' (found '}')"),
    ("route { break; }", "t.cfg:1:9: 'break' is only allowed inside a switch case"),
    ("route { case 1: exit; }", "t.cfg:1:9: 'case' outside of a switch"),
    ("route { else exit; }", "t.cfg:1:9: 'else' without a matching 'if'"),
    ("route { x(a b); }", "t.cfg:1:13: unexpected 'b' in arguments of 'x'; expected ',' or ')'"),
    ("route { x(,); }", "t.cfg:1:11: unexpected ',' in arguments of 'x'"),
    ("route { xlog(", "t.cfg:1:14: unexpected end of file in arguments of 'xlog': missing ')'"),
    ("route[1] {\n  route[2] { }\n}",
     "t.cfg:2:3: route block inside another block (missing '}' before it?)"),
    ("route {\n  modparam(\"a\",\"b\",1)\n}",
     "t.cfg:2:3: 'modparam' inside a route block (missing '}' before it?)"),
    ("failure_route { }", "t.cfg:1:15: failure_route needs a name: failure_route[name]"),
    ("branch_route { }", "t.cfg:1:14: branch_route needs a name: branch_route[name]"),
    ("error_route[1] { }", "t.cfg:1:12: error_route takes no name"),
    ("timer_route[t] { }",
     "t.cfg:1:14: expected ',' after the timer_route name (timer_route[name, seconds]), found ']'"),
    ("timer_route[t, 0] { }", "t.cfg:1:17: timer_route interval must be a positive number of seconds"),
    ("route[] { }", "t.cfg:1:7: invalid name for route: ']'"),
    ("route exit;", "t.cfg:1:7: expected '{' to start route, found 'exit'"),
    ('modparam("a", "b", c)',
     "t.cfg:1:20: modparam value must be a quoted string or a number, found 'c'"),
    ('modparam("a" "b", 1)', "t.cfg:1:14: expected ',' after the module name of modparam, found string \"b\""),
    ("loadmodule tm", "t.cfg:1:12: loadmodule needs a quoted module path, found 'tm'"),
    ("foo", "t.cfg:1:1: unexpected 'foo' at top level: expected 'name = value', loadmodule, "
            "modparam or a route block"),
    ("debug=", "t.cfg:1:7: missing value for 'debug', found end of file"),
    ("route { switch($x) { default: exit; case 1: exit; } }",
     "t.cfg:1:37: 'case' after 'default': default must be the last one"),
    ("route { switch(1) { } }", "t.cfg:1:16: switch needs a pseudo-variable, found '1'"),
    ("route { switch($x) { exit; } }",
     "t.cfg:1:22: expected 'case', 'default' or '}' in switch, found 'exit'"),
    ("route { switch($x) { case x: exit; } }",
     "t.cfg:1:27: case label must be a number or a quoted string, found 'x'"),
    ("route { if ($a == 1 == 2) exit; }", "t.cfg:1:21: comparisons cannot be chained; use parentheses"),
    ("route { if { exit; } }", "t.cfg:1:12: missing condition after 'if'"),
    ("route { if (a exit; }", "t.cfg:1:15: expected ')' to match '(' at line 1, column 12, found 'exit'"),
    ("route { if (a) }", "t.cfg:1:16: unexpected '}'"),
    ("route { if (a)", "t.cfg:1:15: unexpected end of file: missing statement after 'if' condition"),
    ("route { if (a &&) exit; }", "t.cfg:1:17: unexpected ')' in expression"),
    ("route { return(abc); }",
     "t.cfg:1:16: return value must be a number or a pseudo-variable, found 'abc'"),
    ("route { exit(1); }", "t.cfg:1:14: expected ')' after 'exit(' (exit takes no arguments), found '1'"),
    ("route { route(); }", "t.cfg:1:15: invalid name for route(): ')'"),
    ("route { $(var(x){s.len}) = 1; }",
     "t.cfg:1:9: transformations are not allowed on the left side of an assignment"),
    ("route { $(var(x)[a]) = 1; }",
     "t.cfg:1:17: bad index '[a]' in pseudo-variable '$(var(x)[a])'"),
    ("route { $var(x) = - $var(y); }", "t.cfg:1:19: expected a number after '-', found '$var(y)'"),
    ("route { $var(x) = if; }", "t.cfg:1:19: 'if' cannot be used in an expression"),
    ("route {\n\t/* never closed\n}", "t.cfg:2:2: unterminated comment"),
    ("route { xlog(\"a\") ; } @", "t.cfg:1:23: invalid character '@'"),
])
def test_error_messages_and_positions(text: str, message: str) -> None:
    assert error(text) == message


def test_script_error_fields() -> None:
    with pytest.raises(ScriptError) as info:
        parse_config("route {\n  exit\n}", "my.cfg")
    assert (info.value.file, info.value.line, info.value.col) == ("my.cfg", 3, 1)
    assert info.value.message.startswith("missing ';'")


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = "route { $var(x) = " + "(" * 5000 + "1" + ")" * 5000 + "; }"
    assert "nesting too deep" in error(text)
    text = "route { " + "if (a) " * 5000 + "exit; }"
    assert "nesting too deep" in error(text)


# --- pseudo-variables ---------------------------------------------------------------

@pytest.mark.parametrize("text, name, param, index, context", [
    ("$ru", "ru", None, None, None),
    ("$rU", "rU", None, None, None),
    ("$ruri.user", "ruri.user", None, None, None),
    ("$hdr(Via)", "hdr", "Via", None, None),
    ("$hdr(X-Custom-1)", "hdr", "X-Custom-1", None, None),
    ("$avp(i:10)", "avp", "i:10", None, None),
    ("$avp(s:name)", "avp", "s:name", None, None),
    ("$avp(alias)", "avp", "alias", None, None),
    ("$var(x)", "var", "x", None, None),
    ("$(avp(s:x)[1])", "avp", "s:x", 1, None),
    ("$(hdr(Via)[-1])", "hdr", "Via", -1, None),
    ("$(hdr(Via)[*])", "hdr", "Via", "*", None),
    ("$(ct[0])", "ct", None, 0, None),
    ("$(ru)", "ru", None, None, None),
    ("$(<request>ru)", "ru", None, None, "request"),
    ("$(<reply>hdr(Reason))", "hdr", "Reason", None, "reply"),
    ("$time(%H:%M)", "time", "%H:%M", None, None),
])
def test_parse_pv(text: str, name: str, param: object, index: object, context: object) -> None:
    pv = parse_pv(text, P)
    assert (pv.name, pv.param, pv.index, pv.context, pv.transforms) == (name, param, index, context, ())
    assert pv.text == text and pv.pos == P


def test_nested_pv_param_and_index() -> None:
    pv = parse_pv("$avp($var(x))", P)
    assert isinstance(pv.param, ast.PVRef)
    assert (pv.param.name, pv.param.param) == ("var", "x")
    pv = parse_pv("$(avp(s:list)[$var(i)])", P)
    assert isinstance(pv.index, ast.PVRef) and pv.index.param == "i"


def test_transformations() -> None:
    pv = parse_pv("$(ru{uri.user})", P)
    assert [(t.name, t.args) for t in pv.transforms] == [("uri.user", ())]
    pv = parse_pv("$(var(x){s.substr,1,2}{s.len})", P)
    assert [(t.name, t.args) for t in pv.transforms] == [("s.substr", (1, 2)), ("s.len", ())]
    pv = parse_pv("$(hdr(Via)[0]{s.select,1,,}{s.tolower})", P)
    assert pv.index == 0
    assert [(t.name, t.args) for t in pv.transforms] == [("s.select", (1, ",")), ("s.tolower", ())]
    pv = parse_pv("$(ru{uri.param,transport})", P)
    assert pv.transforms[0].args == ("transport",)
    pv = parse_pv("$(var(x){s.substr,$var(off),-1})", P)
    off = pv.transforms[0].args[0]
    assert isinstance(off, ast.PVRef) and off.param == "off"
    assert pv.transforms[0].args[1] == -1
    pv = parse_pv("$(fu{param.value,tag}{nameaddr.uri})", P)
    assert [t.name for t in pv.transforms] == ["param.value", "nameaddr.uri"]
    pv = parse_pv("$(<reply>hdr(X){s.len})", P)
    assert pv.context == "reply" and pv.transforms[0].name == "s.len"


def test_transformation_positions() -> None:
    pv = parse_pv("$(var(x){s.len}{s.int})", Pos("f", 3, 10))
    assert [t.pos for t in pv.transforms] == [Pos("f", 3, 18), Pos("f", 3, 25)]


@pytest.mark.parametrize("text, message", [
    ("$", "expected '$'"),
    ("$(var(x)", "unbalanced parentheses"),
    ("$(var(x){s.len)", "unbalanced parentheses"),
    ("$(var(x){bad})", "invalid transformation '{bad}'"),
    ("$(var(x)[x])", "bad index '[x]'"),
    ("$(var(x) y)", "unexpected ' '"),
    ("$hdr()", "empty parameter"),
    ("$(<>ru)", "bad context prefix"),
    ("$(<reply ru)", "bad context prefix"),
    ("$(1x)", "missing name"),
    ("$var(x)[1]", "unexpected '['"),
])
def test_parse_pv_errors(text: str, message: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_pv(text, P)
    assert message in str(info.value)


# --- format strings -----------------------------------------------------------------

def fmt(text: str) -> list[object]:
    return [p if isinstance(p, str) else p.text for p in parse_format(text, P)]


def test_parse_format_splits_literals_and_pvs() -> None:
    assert fmt("user $rU from $si: $(hdr(X){s.len})\n") == [
        "user ", "$rU", " from ", "$si", ": ", "$(hdr(X){s.len})", "\n"]


def test_parse_format_edge_cases() -> None:
    assert fmt("") == []
    assert fmt("plain") == ["plain"]
    assert fmt("$ru") == ["$ru"]
    assert fmt("$rU@$rd") == ["$rU", "@", "$rd"]
    assert fmt("at $ru.") == ["at ", "$ru", "."]
    assert fmt("cost $$ 5$") == ["cost $$ 5$"]
    assert fmt("$$ru") == ["$", "$ru"]
    assert fmt("bad $(var(x) end") == ["bad $(var(x) end"]
    assert fmt("bad $(var(x){nope}) end") == ["bad $(var(x){nope}) end"]
    assert fmt("$var(a)$var(b)") == ["$var(a)", "$var(b)"]
    assert fmt("[$fu/$tu/$ru/$ci]") == ["[", "$fu", "/", "$tu", "/", "$ru", "/", "$ci", "]"]
    assert fmt("$C(rb)red$C(xx)") == ["$C(rb)", "red", "$C(xx)"]


def test_parse_format_positions() -> None:
    parts = parse_format("ab $ru\nx $si", Pos("f", 4, 10))
    pvs = [p for p in parts if isinstance(p, ast.PVRef)]
    assert [p.pos for p in pvs] == [Pos("f", 4, 14), Pos("f", 5, 3)]


# --- whole files ----------------------------------------------------------------------

def test_book_config() -> None:
    cfg = load_config(str(BOOK))
    assert sorted(cfg.routes) == ["0", "PSTN", "RELAY"]
    assert list(cfg.branch_routes) == ["2"]
    assert list(cfg.failure_routes) == ["1"]
    assert sorted(cfg.onreply_routes) == ["0", "2"]
    assert cfg.error_route and cfg.local_route and cfg.startup_route
    assert cfg.timer_routes["cleanup"].interval == 60
    assert cfg.global_values("listen") == [
        "udp:192.168.1.10:5060", "tcp:192.168.1.10:5060 as 203.0.113.10:5060"]
    assert cfg.global_values("alias") == ["sip.example.com", "voip.example.com:5060"]
    assert len(cfg.loadmodules) == 16
    url = [m for m in cfg.modparams if m.param == "db_url"][0]
    assert url.module_regex == "usrloc|auth_db|avpops"
    assert url.value == "mysql://opensips:opensipsrw@localhost/opensips"

    calls = [n.name for n in walk(cfg.routes["0"].body) if isinstance(n, ast.Call)]
    for name in ("mf_process_maxfwd_header", "proxy_authorize", "save", "lookup", "avp_db_load"):
        assert name in calls
    switches = [n for n in walk(cfg.failure_routes["1"].body) if isinstance(n, ast.Switch)]
    assert [c.label for c in switches[0].cases] == [480, "503"]
    assert switches[0].default is not None
    sockets = [a for n in walk(cfg.routes["PSTN"].body) if isinstance(n, ast.Call)
               for a in n.args if a.kind == "raw"]
    assert [a.value for a in sockets] == ["udp:192.168.1.10:5060"]
    route_calls = {n.name for n in walk(cfg.routes["0"].body) if isinstance(n, ast.RouteCall)}
    assert route_calls == {"RELAY", "PSTN"}


def walk(node: object):  # type: ignore[no-untyped-def]
    """Every node reachable from ``node`` (statements, expressions, calls)."""
    yield node
    if isinstance(node, ast.Block):
        for stmt in node.statements:
            yield from walk(stmt)
    elif isinstance(node, ast.If):
        yield from walk(node.cond)
        yield from walk(node.then)
        if node.else_:
            yield from walk(node.else_)
    elif isinstance(node, ast.While):
        yield from walk(node.cond)
        yield from walk(node.body)
    elif isinstance(node, ast.Switch):
        for case in node.cases:
            yield from walk(case.body)
        if node.default:
            yield from walk(node.default)
    elif isinstance(node, ast.BoolOp | ast.Compare | ast.Arith):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, ast.Not | ast.BitNot | ast.Test):
        yield from walk(node.expr)
    elif isinstance(node, ast.CallExpr):
        yield from walk(node.call)
    elif isinstance(node, ast.Assign):
        yield from walk(node.value)


def test_default_config() -> None:
    cfg = load_config(str(DEFAULT_CFG))
    assert sorted(cfg.routes) == ["0", "1"]
    assert list(cfg.branch_routes) == ["2"]
    assert list(cfg.onreply_routes) == ["2"]
    assert list(cfg.failure_routes) == ["1"]
    values = {g.name: g.value for g in cfg.globals}
    assert values["debug"] == 3 and values["fork"] == 1 and values["log_stderror"] == 0
    assert values["children"] == 4
    assert "listen" not in values
    modules = [m.path for m in cfg.loadmodules]
    assert modules == [f"{m}.so" for m in (
        "signaling", "sl", "tm", "rr", "maxfwd", "usrloc", "registrar", "textops",
        "mi_fifo", "uri", "acc")]
    assert ("usrloc", "db_mode", 0) in [(m.module_regex, m.param, m.value) for m in cfg.modparams]
    names = {n.name for n in walk(cfg.routes["0"].body) if isinstance(n, ast.Call)}
    assert {"save", "lookup", "record_route", "loose_route", "t_check_trans"} <= names
    failure = [n.name for n in walk(cfg.failure_routes["1"].body) if isinstance(n, ast.Call)]
    assert failure == ["t_was_cancelled"]  # the voicemail example stays commented out


def test_load_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "none.cfg"
    with pytest.raises(ScriptError) as info:
        load_config(str(missing))
    assert info.value.file == str(missing)
    assert "cannot read config file" in str(info.value)


def test_load_config_latin1(tmp_path: Path) -> None:
    path = tmp_path / "l1.cfg"
    path.write_bytes('route { xlog("caf\xe9"); }'.encode("latin-1"))
    cfg = load_config(str(path))
    stmt = cfg.routes["0"].body.statements[0]
    assert isinstance(stmt, ast.Call) and stmt.args[0].value == "caf\xe9"


# --- robustness -------------------------------------------------------------------------

def _parse_or_script_error(text: str) -> None:
    try:
        parse_config(text, "fuzz.cfg")
    except ScriptError:
        pass


def test_truncated_configs_parse_or_raise_script_error() -> None:
    text = BOOK.read_text()
    rng = random.Random(1234)
    cuts = sorted({rng.randrange(len(text)) for _ in range(300)})
    for cut in cuts:
        _parse_or_script_error(text[:cut])


def test_mutated_configs_parse_or_raise_script_error() -> None:
    text = BOOK.read_text() + DEFAULT_CFG.read_text()
    alphabet = "(){}[];:,.$\"'#/*\\\n !=~<>&|^+-%0123456789xabc"
    rng = random.Random(42)
    for _ in range(300):
        chars = list(text[:rng.randrange(200, 3000)])
        for _ in range(rng.randrange(1, 8)):
            where = rng.randrange(len(chars))
            action = rng.randrange(3)
            if action == 0:
                del chars[where]
            elif action == 1:
                chars.insert(where, rng.choice(alphabet))
            else:
                chars[where] = rng.choice(alphabet)
        _parse_or_script_error("".join(chars))


def test_random_token_soup_parses_or_raises_script_error() -> None:
    pieces = ["route", "{", "}", "(", ")", "[", "]", ";", "if", "else", "switch", "case",
              "default", ":", "break", "$var(x)", "$(avp(i:1)[1]{s.len})", "=", "==", "&&",
              "||", "!", "1", "-", "+", '"s"', "'t'", "xlog", "myself", "NULL", "src_ip",
              "10.0.0.1", "msg:len", "return", "exit", "drop", "while", "modparam",
              "loadmodule", "timer_route", "onreply_route", ",", "udp:1.2.3.4", "\n", " "]
    rng = random.Random(7)
    for _ in range(1000):
        soup = " ".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
        _parse_or_script_error(soup)
        _parse_or_script_error("route { " + soup)
        _parse_or_script_error("route { if (" + soup + ") exit; }")


def test_random_bytes_parse_or_raise_script_error() -> None:
    rng = random.Random(99)
    for _ in range(300):
        junk = "".join(chr(rng.randrange(0, 256)) for _ in range(rng.randrange(0, 200)))
        _parse_or_script_error(junk)
        try:
            parse_format(junk, P)
        except ScriptError:  # pragma: no cover - parse_format never raises
            raise AssertionError("parse_format must not raise")
