import pytest

from kvconf import Config


@pytest.fixture
def config():
    return Config(
        {
            "server": {"port": "0x1F90", "ratio": "0.75", "debug": "On", "hosts": "a, b,,c "},
            "": {"name": "svc"},
        }
    )


def test_get_with_and_without_default(config):
    assert config.get("", "name") == "svc"
    assert config.get("server", "missing", None) is None
    with pytest.raises(KeyError, match="server.missing"):
        config.get("server", "missing")


def test_typed_getters(config):
    assert config.get_int("server", "port") == 8080
    assert config.get_float("server", "ratio") == 0.75
    assert config.get_bool("server", "debug") is True
    assert config.get_list("server", "hosts") == ["a", "b", "c"]
    assert config.get_int("server", "workers", 2) == 2


def test_get_bool_rejects_other_words(config):
    config.set("server", "flag", "maybe")
    with pytest.raises(ValueError):
        config.get_bool("server", "flag")


def test_sections_and_membership(config):
    assert "server" in config
    assert "client" not in config
    assert sorted(config) == ["", "server"]
