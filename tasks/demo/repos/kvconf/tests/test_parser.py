import textwrap

import pytest

from kvconf import ParseError, load, loads


def parse(text):
    return loads(textwrap.dedent(text))


def test_sections_and_keys():
    config = parse(
        """
        name = billing
        [database]
        host = db.internal
        port: 5432
        """
    )
    assert config.sections() == ["", "database"]
    assert config.get("", "name") == "billing"
    assert config.get("database", "host") == "db.internal"
    assert config.get("database", "port") == "5432"


def test_full_line_comments_and_blank_lines_are_ignored():
    config = parse(
        """
        # a comment
           ; another one

        [app]
        debug = yes
        """
    )
    assert config.as_dict() == {"app": {"debug": "yes"}}


def test_inline_comment_on_plain_value():
    config = parse(
        """
        [app]
        workers = 4    # one per core
        mode = fast ; for now
        """
    )
    assert config.get("app", "workers") == "4"
    assert config.get("app", "mode") == "fast"


def test_hash_inside_word_is_not_a_comment():
    config = parse("url = http://example.org/docs/#install\n")
    assert config.get("", "url") == "http://example.org/docs/#install"


def test_inline_comment_after_section_header():
    config = parse("[paths]   # where things live\nroot = /srv\n")
    assert config.get("paths", "root") == "/srv"


def test_double_quoted_value_keeps_spaces_and_escapes():
    config = parse('greeting = "  hello\\tworld\\n"\nquote = "say \\"hi\\""\n')
    assert config.get("", "greeting") == "  hello\tworld\n"
    assert config.get("", "quote") == 'say "hi"'


def test_single_quoted_value_is_literal():
    config = parse("pattern = 'C:\\temp\\new'\n")
    assert config.get("", "pattern") == "C:\\temp\\new"


def test_quoted_value_followed_by_comment():
    config = parse('color = "#ffffff"   # white\n')
    assert config.get("", "color") == "#ffffff"


@pytest.mark.parametrize(
    "text, lineno",
    [
        ('ok = 1\nbad = "unterminated\n', 2),
        ("just some words\n", 1),
        ("bad key = 1\n", 1),
        ('x = "a" b\n', 1),
        ('x = "bad \\q escape"\n', 1),
    ],
    ids=["unterminated-quote", "no-separator", "space-in-key", "junk-after-quote", "bad-escape"],
)
def test_parse_errors_name_the_line(text, lineno):
    with pytest.raises(ParseError) as info:
        loads(text)
    assert info.value.lineno == lineno


def test_keys_are_case_insensitive():
    config = parse("[App]\nLogLevel = info\n")
    assert config.get("App", "loglevel") == "info"
    assert config.get("App", "LOGLEVEL") == "info"


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "service.conf"
    path.write_text("[server]\nport = 8080\n", encoding="utf-8")
    assert load(path).get_int("server", "port") == 8080
