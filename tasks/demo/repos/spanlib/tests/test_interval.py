import pytest

from spanlib import Interval


def test_rejects_reversed_bounds():
    with pytest.raises(ValueError):
        Interval(5, 1)


def test_of_accepts_pairs_and_intervals():
    assert Interval.of((1, 2)) == Interval(1, 2)
    iv = Interval(0, 1)
    assert Interval.of(iv) is iv


def test_half_open_membership():
    iv = Interval(1, 3)
    assert 1 in iv and 2.999 in iv
    assert 3 not in iv and 0 not in iv
    assert Interval(2, 2).is_empty


def test_overlaps_and_touches():
    assert Interval(0, 5).overlaps(Interval(4, 6))
    assert not Interval(0, 5).overlaps(Interval(5, 6))
    assert Interval(0, 5).touches(Interval(5, 6))


def test_intersection_and_shift():
    assert Interval(0, 5).intersection(Interval(3, 9)) == Interval(3, 5)
    assert Interval(0, 5).intersection(Interval(6, 9)) is None
    assert Interval(1, 2).shift(10) == Interval(11, 12)
    assert str(Interval(1, 2.5)) == "[1, 2.5)"
