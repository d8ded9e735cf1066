import pytest

from semverlib import InvalidVersion, Version, max_satisfying, parse


def test_parse_basic():
    v = parse("1.2.3")
    assert (v.major, v.minor, v.patch) == (1, 2, 3)
    assert v.prerelease == ()
    assert v.build == ()


def test_parse_prerelease_and_build():
    v = parse("2.0.0-rc.1+build.42")
    assert v.prerelease == ("rc", "1")
    assert v.build == ("build", "42")
    assert v.is_prerelease


def test_parse_accepts_leading_v_and_whitespace():
    assert parse("  v0.9.1 ") == Version(0, 9, 1)


@pytest.mark.parametrize("text", ["1.2", "01.2.3", "1.2.3-", "1.2.3-rc..1", "1.2.3-01", "x.y.z"])
def test_parse_rejects_invalid(text):
    with pytest.raises(InvalidVersion):
        parse(text)


def test_str_round_trip():
    for text in ["0.0.1", "1.0.0-alpha", "3.4.5-beta.2+sha.5114f85"]:
        assert str(parse(text)) == text


def test_core_ordering():
    assert parse("1.0.0") < parse("2.0.0") < parse("2.1.0") < parse("2.1.1")
    assert parse("1.10.0") > parse("1.9.0")


def test_prerelease_ranks_below_release():
    assert parse("1.0.0-alpha") < parse("1.0.0")
    assert parse("1.0.0") > parse("1.0.0-rc.1")


def test_alphanumeric_prerelease_ordering():
    assert parse("1.0.0-alpha") < parse("1.0.0-alpha.1") < parse("1.0.0-beta") < parse("1.0.0-rc")


def test_build_metadata_is_ignored_in_comparisons():
    assert parse("1.0.0+a") == parse("1.0.0+b")
    assert hash(parse("1.0.0+a")) == hash(parse("1.0.0"))


def test_bumps():
    v = parse("1.2.3")
    assert str(v.bump_major()) == "2.0.0"
    assert str(v.bump_minor()) == "1.3.0"
    assert str(v.bump_patch()) == "1.2.4"
    assert str(parse("1.2.3-rc.1").bump_patch()) == "1.2.3"


def test_max_satisfying_skips_prereleases_and_junk():
    candidates = ["1.0.0", "1.2.0-rc.1", "not-a-version", "1.1.5"]
    assert max_satisfying(candidates) == parse("1.1.5")
    assert max_satisfying(candidates, allow_prerelease=True) == parse("1.2.0-rc.1")
    assert max_satisfying([]) is None
