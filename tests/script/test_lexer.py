"""Tests for opensipsg.script.lexer."""
from __future__ import annotations

import pytest

from opensipsg.errors import ScriptError
from opensipsg.script.lexer import EOF, ID, NUM, OP, PV, STR, scan_pv, tokenize


def kinds_values(text: str) -> list[tuple[str, object]]:
    return [(t.kind, t.value) for t in tokenize(text, "t.cfg")[:-1]]


def test_eof_token_always_last() -> None:
    tokens = tokenize("", "t.cfg")
    assert [t.kind for t in tokens] == [EOF]
    assert (tokens[0].line, tokens[0].col) == (1, 1)


def test_positions_are_one_based_lines_and_columns() -> None:
    tokens = tokenize('route {\n\txlog("a");\n}', "t.cfg")
    got = [(t.text, t.line, t.col) for t in tokens[:-1]]
    assert got == [
        ("route", 1, 1), ("{", 1, 7),
        ("xlog", 2, 2), ("(", 2, 6), ('"a"', 2, 7), (")", 2, 10), (";", 2, 11),
        ("}", 3, 1),
    ]


def test_hash_comment_runs_to_end_of_line() -> None:
    assert kinds_values("a # b c\nd") == [(ID, "a"), (ID, "d")]


def test_block_comments_nest() -> None:
    text = "a /* one /* two */ still comment */ b"
    assert kinds_values(text) == [(ID, "a"), (ID, "b")]


def test_block_comment_tracks_lines() -> None:
    tokens = tokenize("/* x\ny\n*/ z", "t.cfg")
    assert (tokens[0].value, tokens[0].line, tokens[0].col) == ("z", 3, 4)


def test_unterminated_comment_reports_its_start() -> None:
    with pytest.raises(ScriptError) as info:
        tokenize("a\n  /* /* */ b", "t.cfg")
    assert str(info.value) == "t.cfg:2:3: unterminated comment"


@pytest.mark.parametrize("source, value", [
    (r'"a\nb"', "a\nb"),
    (r'"\r\t\a"', "\r\t\a"),
    (r'"say \"hi\""', 'say "hi"'),
    (r'"back\\slash"', "back\\slash"),
    (r'"\x41\x4a"', "AJ"),
    (r'"\x7"', "\x07"),
    (r'"\101\60"', "A0"),
    (r'"\1 and \2"', "\\1 and \\2"),  # subst back-references survive
    (r'"\d+\."', "\\d+\\."),  # unknown escapes keep the backslash
    ('"line\\\nnext"', "linenext"),  # backslash-newline continuation
    ('"two\nlines"', "two\nlines"),
    ("'no \\n escapes'", "no \\n escapes"),
    ('""', ""),
])
def test_string_escapes(source: str, value: str) -> None:
    assert kinds_values(source) == [(STR, value)]


def test_unterminated_strings() -> None:
    with pytest.raises(ScriptError) as info:
        tokenize('x = "abc\n', "t.cfg")
    assert str(info.value) == "t.cfg:1:5: unterminated string"
    with pytest.raises(ScriptError) as info:
        tokenize("\n  'abc", "t.cfg")
    assert str(info.value) == "t.cfg:2:3: unterminated string"


def test_numbers_decimal_hex_octal() -> None:
    assert kinds_values("10 0x1F 017 0 08") == [
        (NUM, 10), (NUM, 31), (NUM, 15), (NUM, 0), (NUM, 8)]


def test_identifiers_and_word_operators() -> None:
    assert kinds_values("t_relay and or not x_1") == [
        (ID, "t_relay"), (OP, "&&"), (OP, "||"), (OP, "!"), (ID, "x_1")]


def test_operators_longest_match() -> None:
    text = "== != =~ !~ >= <= && || << >> := += -= *= /= %= &= |= ^= > < ! & | ^ ~ + - * / % = ( ) { } [ ] , ; : ."
    values = [v for _, v in kinds_values(text)]
    assert values == text.split()


def test_operators_without_spaces() -> None:
    assert [v for _, v in kinds_values("$a==-1&&!b")] == ["$a", "==", "-", 1, "&&", "!", "b"]


@pytest.mark.parametrize("source", [
    "$ru", "$rU", "$T_branch_idx", "$ruri.user", "$err.class",
    "$hdr(Via)", "$avp(i:10)", "$avp(s:name)", "$avp($var(x))",
    "$(avp(s:x)[1])", "$(hdr(Via)[-1])", "$(ru{uri.user})",
    "$(var(x){s.substr,1,2}{s.len})", "$(<request>ru)", "$(hdr(X){s.select,1,(})})",
])
def test_pseudo_variables_are_one_token(source: str) -> None:
    assert kinds_values(source) == [(PV, source)]


def test_pseudo_variable_followed_by_operator() -> None:
    assert kinds_values("$var(x)==$ru.") == [(PV, "$var(x)"), (OP, "=="), (PV, "$ru"), (OP, ".")]


def test_unbalanced_pseudo_variable() -> None:
    with pytest.raises(ScriptError) as info:
        tokenize("route { $hdr(Via ; }", "t.cfg")
    assert str(info.value) == "t.cfg:1:9: unterminated pseudo-variable (unbalanced parentheses)"


def test_lone_dollar() -> None:
    with pytest.raises(ScriptError) as info:
        tokenize("x $ y", "t.cfg")
    assert str(info.value).startswith("t.cfg:1:3: invalid pseudo-variable")


def test_invalid_character() -> None:
    with pytest.raises(ScriptError) as info:
        tokenize("a\n b @", "t.cfg")
    assert str(info.value) == "t.cfg:2:4: invalid character '@'"


def test_backslash_newline_outside_strings() -> None:
    tokens = tokenize("a \\\n b", "t.cfg")
    assert [(t.value, t.line, t.col) for t in tokens[:-1]] == [("a", 1, 1), ("b", 2, 2)]


def test_token_offsets_allow_adjacency_checks() -> None:
    tokens = tokenize("udp:1.2.3.4 x", "t.cfg")
    glued = [t.text for t in tokens if t.end <= 11]
    assert "".join(glued) == "udp:1.2.3.4"
    assert all(a.end == b.start for a, b in zip(tokens[:8], tokens[1:9]))
    assert (tokens[9].value, tokens[9].start) == ("x", 12)


@pytest.mark.parametrize("text, start, end", [
    ("$ru.", 0, 3),
    ("x $rU@$rd", 2, 5),
    ("$var(x) y", 0, 7),
    ("$(a(b)[1]{s.len})z", 0, 17),
    ("$", 0, -1),
    ("$ x", 0, -1),
    ("$()", 0, -1),
    ("$(abc", 0, -1),
    ("$var(x", 0, -1),
])
def test_scan_pv(text: str, start: int, end: int) -> None:
    assert scan_pv(text, start) == end
