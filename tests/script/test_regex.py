from opensipsg.script.regex import compile_ere, translate_ere


def test_posix_classes():
    rx = compile_ere("^[[:digit:]]+$")
    assert rx.search("12345") and not rx.search("12a")
    assert compile_ere("^[[:alpha:]_]+$").search("Ab_c")
    assert compile_ere("[^[:space:]]").search(" x ")
    assert compile_ere("^[[:alnum:]]{3}$").search("a1B")
    assert compile_ere("^[[:xdigit:]]+$").search("DeadBeef")
    assert not compile_ere("^[[:upper:]]+$").search("a1") 


def test_case_insensitive_unanchored():
    assert compile_ere("invite").search("xxINVITExx")
    assert compile_ere("^sip:bob@").search("SIP:Bob@example.com")


def test_backslash_literal_inside_brackets_and_leading_bracket():
    assert translate_ere(r"[\d]") == r"[\\d]"
    assert compile_ere(r"[\d]").search("\\") and not compile_ere(r"[\d]").search("5")
    assert compile_ere("[]a]").search("]")


def test_alternation_and_groups():
    rx = compile_ere("^(486|408)$")
    assert rx.search("486") and rx.search("408") and not rx.search("4860")
    assert compile_ere("(?x)").search("?x") is None or True  # no Python extensions: no crash


def test_cached():
    assert compile_ere("abc") is compile_ere("abc")
