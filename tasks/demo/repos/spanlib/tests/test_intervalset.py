from spanlib import Interval, IntervalSet


def test_add_merges_overlapping_members():
    s = IntervalSet([(1, 3)])
    s.add((2, 6))
    s.add((8, 9))
    assert list(s) == [Interval(1, 6), Interval(8, 9)]
    assert len(s) == 2


def test_point_membership():
    s = IntervalSet([(0, 2), (5, 7)])
    assert 0 in s and 6.5 in s
    assert 2 not in s and 3 not in s and -1 not in s


def test_discard_splits_members():
    s = IntervalSet([(0, 10)])
    s.discard((3, 5))
    assert list(s) == [Interval(0, 3), Interval(5, 10)]
    s.discard((-5, 1))
    assert list(s) == [Interval(1, 3), Interval(5, 10)]


def test_union_intersection_and_length():
    a = IntervalSet([(0, 4)])
    b = IntervalSet([(2, 6), (8, 9)])
    assert a | b == IntervalSet([(0, 6), (8, 9)])
    assert a & b == IntervalSet([(2, 4)])
    assert (a | b).total_length() == 7
    assert (a | b).gaps() == [Interval(6, 8)]


def test_empty_set_is_falsy():
    assert not IntervalSet()
    assert repr(IntervalSet([(1, 2)])) == "IntervalSet([[1, 2)])"
