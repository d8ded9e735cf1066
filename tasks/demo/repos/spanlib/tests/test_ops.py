from spanlib import Interval, gaps, intersect, merge, total_length


def test_merge_partial_overlaps_in_any_order():
    assert merge([(6, 8), (1, 3), (2, 4)]) == [Interval(1, 4), Interval(6, 8)]


def test_merge_joins_adjacent_by_default():
    assert merge([(1, 3), (3, 5)]) == [Interval(1, 5)]
    assert merge([(1, 3), (3, 5)], join_adjacent=False) == [Interval(1, 3), Interval(3, 5)]


def test_merge_drops_empty_and_handles_nothing():
    assert merge([]) == []
    assert merge([(2, 2), (0, 1)]) == [Interval(0, 1)]


def test_merge_identical_intervals():
    assert merge([(1, 4), (1, 4)]) == [Interval(1, 4)]


def test_total_length_counts_overlap_once():
    assert total_length([(0, 4), (2, 6), (10, 11)]) == 7
    assert total_length([]) == 0


def test_gaps_between_and_within_bounds():
    busy = [(9, 10), (11, 12.5), (14, 17)]
    assert gaps(busy) == [Interval(10, 11), Interval(12.5, 14)]
    assert gaps(busy, within=(8, 18)) == [
        Interval(8, 9),
        Interval(10, 11),
        Interval(12.5, 14),
        Interval(17, 18),
    ]


def test_intersect_two_schedules():
    alice = [(9, 11), (13, 16)]
    bob = [(10, 14), (15, 18)]
    assert intersect(alice, bob) == [Interval(10, 11), Interval(13, 14), Interval(15, 16)]
