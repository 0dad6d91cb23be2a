import pytest

from opensipsg.errors import ScriptError
from tests.script.test_compiler import build, make_ctx, run, rec_texts



def test_string_transformations():
    rc, ctx, mod, _ = run("""
route {
    $var(s) = "42abc"; $var(csv) = "a,b,c"; $var(hex) = "626f62"; $var(up) = "MiXeD";
    $var(sp) = "a b@c"; $var(esc) = "a%20b"; $var(q) = "it's";
    rec("$(rU{s.len})|$(var(s){s.int})|$(rU{s.md5})|$(rU{s.substr,1,2})|$(rU{s.substr,1,0})|$(rU{s.substr,-2,0})");
    rec("$(var(csv){s.select,1,,})|$(var(csv){s.select,-1,,})|$(rU{s.encode.hexa})|$(var(hex){s.decode.hexa})");
    rec("$(rU{s.toupper})|$(var(up){s.tolower})|$(var(sp){s.escape.user})|$(var(esc){s.unescape.user})");
    rec("$(rU{s.toupper}{s.len})|$(rU{s.crc32})|$(var(q){s.escape.common})");
}
""")
    import hashlib
    import zlib
    assert rec_texts(mod) == [
        f"3|42|{hashlib.md5(b'bob').hexdigest()}|ob|ob|ob",
        "b|c|626f62|bob",
        "BOB|mixed|a%20b%40c|a b",
        f"3|{zlib.crc32(b'bob')}|it\\'s",
    ]


def test_int_result_compares_as_int():
    rc, ctx, mod, _ = run('route { if ($(rU{s.len}) == 3) rec("three"); if ($(rU{s.len}) > 2) rec("gt"); }')
    assert rec_texts(mod) == ["three", "gt"]


def test_uri_transformations():
    rc, ctx, mod, _ = run("""
route {
    $var(u) = "sip:alice:pw@atlanta.com:5070;transport=tcp;lr;maddr=1.2.3.4;user=phone?h=v";
    rec("$(var(u){uri.user})|$(var(u){uri.host})|$(var(u){uri.domain})|$(var(u){uri.passwd})|$(var(u){uri.port})");
    rec("$(var(u){uri.params})|$(var(u){uri.param,maddr})|$(var(u){uri.headers})|$(var(u){uri.transport})");
    rec("$(var(u){uri.uparam})|$(var(u){uri.maddr})|$(var(u){uri.lr})|$(fu{uri.user})|$(var(bad){uri.user})");
}
""")
    assert rec_texts(mod) == [
        "alice|atlanta.com|atlanta.com|pw|5070",
        "transport=tcp;lr;maddr=1.2.3.4;user=phone|1.2.3.4|h=v|tcp",
        "phone|1.2.3.4||alice|<null>",
    ]


def test_param_and_nameaddr_transformations():
    rc, ctx, mod, _ = run("""
route {
    $var(p) = ";a=1;b;c=three";
    rec("$(var(p){param.value,c})|$(var(p){param.valueat,0})|$(var(p){param.name,1})|$(var(p){param.count})");
    rec("$(hdr(From){nameaddr.name})|$(hdr(From){nameaddr.uri})|$(hdr(From){nameaddr.param,tag})");
    rec("$(hdr(From){nameaddr.uri}{uri.host})|$(hdr(To){nameaddr.len})");
}
""")
    assert rec_texts(mod) == [
        "three|1|b|3",
        "Alice A|sip:alice@atlanta.com|1928301774",
        "atlanta.com|25",
    ]


def test_transformation_with_pv_argument():
    rc, ctx, mod, _ = run('route { $var(n) = 2; rec("$(rU{s.substr,0,$var(n)})"); }')
    assert rec_texts(mod) == ["bo"]


def test_unknown_transformation_and_bad_args_are_load_errors():
    with pytest.raises(ScriptError) as err:
        build('route {\n  $var(x) = $(ru{uri.nothing});\n}\n')
    assert "uri.nothing" in err.value.message and err.value.line == 2
    with pytest.raises(ScriptError) as err:
        build('route {\n  $var(x) = $(ru{s.substr,1});\n}\n')
    assert "s.substr" in err.value.message
