import pytest

from editbuf import Buffer, EditError, NothingToUndo


def test_undo_reverts_edits_in_reverse_order():
    buf = Buffer("hello world")
    buf.insert(5, ",")
    buf.replace(7, 12, "there")
    buf.delete(0, 7)
    buf.undo()
    assert buf.text == "hello, there"
    buf.undo()
    assert buf.text == "hello, world"
    buf.undo()
    assert buf.text == "hello world"
    assert not buf.can_undo


def test_undo_with_empty_history():
    buf = Buffer("x")
    assert not buf.can_undo
    with pytest.raises(NothingToUndo, match="nothing to undo"):
        buf.undo()
    assert issubclass(NothingToUndo, EditError)


def test_edits_that_change_nothing_are_not_recorded():
    buf = Buffer("abc")
    buf.insert(1, "")
    buf.delete(2, 2)
    buf.replace(0, 1, "a")
    assert not buf.can_undo


def test_failed_edit_is_not_recorded():
    buf = Buffer("abc")
    with pytest.raises(EditError):
        buf.delete(1, 10)
    assert not buf.can_undo


def test_undo_restores_line_lookups():
    buf = Buffer("a\nb")
    buf.delete(1, 2)
    assert buf.line_count == 1
    buf.undo()
    assert buf.line_count == 2
    assert buf.position(2) == (1, 0)
