import pytest

from tabread import Table, TableError, read_table


def test_header_and_rows():
    table = read_table("name,team\nAda,platform\nGrace,compilers\n")
    assert table.columns == ["name", "team"]
    assert table.rows == [["Ada", "platform"], ["Grace", "compilers"]]
    assert len(table) == 2


def test_quoted_fields_keep_delimiters_and_newlines():
    table = read_table('a,b\n"x, y","line\nbreak"\n')
    assert table.rows == [["x, y", "line\nbreak"]]


def test_other_delimiter_and_blank_lines():
    table = read_table("a;b\n\n1;2\n\n", delimiter=";")
    assert table.rows == [["1", "2"]]


def test_no_header_numbers_the_columns():
    table = read_table("1,2,3\n", header=False)
    assert table.columns == ["1", "2", "3"]
    assert table.rows == [["1", "2", "3"]]


def test_header_names_are_stripped():
    assert read_table(" a , b\n1,2\n").columns == ["a", "b"]


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("", {}, "the table is empty"),
        ("\n\n", {}, "the table is empty"),
        ("a,b\n1,2,3\n", {}, "row 2 has 3 fields, expected 2"),
        ("a,b\n", {"delimiter": ",,"}, "delimiter must be one character"),
        ("a,b\n", {"delimiter": '"'}, "delimiter must be one character"),
    ],
    ids=["empty", "blank", "ragged", "long-delimiter", "quote-delimiter"],
)
def test_errors(text, kwargs, message):
    with pytest.raises(TableError, match=message):
        read_table(text, **kwargs)


def test_select_and_column():
    table = Table(["a", "b", "c"], [["1", "2", "3"]])
    assert table.select(["c", "a"]) == Table(["c", "a"], [["3", "1"]])
    assert table.column("b") == ["2"]
    with pytest.raises(TableError, match="no column named 'z'"):
        table.select(["z"])


def test_render_aligns_columns():
    table = Table(["name", "office"], [["Ada", "Berlin"], ["Grace", "Arlington"]])
    assert table.render() == (
        "name   office\n"
        "-----  ---------\n"
        "Ada    Berlin\n"
        "Grace  Arlington"
    )
