import pytest

from editbuf import Buffer, EditError


def test_insert_delete_replace():
    buf = Buffer("hello world")
    buf.insert(5, ",")
    assert buf.text == "hello, world"
    assert buf.replace(7, 12, "there") == "world"
    assert buf.text == "hello, there"
    assert buf.delete(0, 7) == "hello, "
    assert str(buf) == "there"
    assert len(buf) == 5


def test_insert_at_both_ends():
    buf = Buffer("b")
    buf.insert(0, "a")
    buf.insert(2, "c")
    assert buf.text == "abc"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda b: b.insert(4, "x"), "offset 4 is out of range 0-3"),
        (lambda b: b.insert(-1, "x"), "offset -1 is out of range 0-3"),
        (lambda b: b.delete(2, 1), "range 2-1 ends before it starts"),
        (lambda b: b.replace(0, 9, ""), "offset 9 is out of range 0-3"),
    ],
    ids=["insert-past-end", "insert-negative", "delete-backwards", "replace-past-end"],
)
def test_bad_offsets(call, message):
    buf = Buffer("abc")
    with pytest.raises(EditError) as info:
        call(buf)
    assert str(info.value) == message
    assert buf.text == "abc"


def test_edit_error_is_a_value_error():
    with pytest.raises(ValueError):
        Buffer("").delete(0, 1)


def test_positions_and_offsets():
    buf = Buffer("ab\ncde\n\nf")
    assert buf.line_count == 4
    assert buf.position(0) == (0, 0)
    assert buf.position(2) == (0, 2)
    assert buf.position(3) == (1, 0)
    assert buf.position(7) == (2, 0)
    assert buf.position(9) == (3, 1)
    assert buf.offset(1, 3) == 6
    assert buf.offset(3, 1) == 9
    with pytest.raises(EditError, match="column 4 is out of range 0-3"):
        buf.offset(1, 4)
    with pytest.raises(EditError, match="line 4 is out of range 0-3"):
        buf.offset(4, 0)


def test_positions_follow_edits():
    buf = Buffer("one\ntwo")
    assert buf.position(5) == (1, 1)
    buf.insert(0, "zero\n")
    assert buf.position(5) == (1, 0)
    assert buf.line_count == 3
