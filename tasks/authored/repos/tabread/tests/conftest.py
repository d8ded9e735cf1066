import pytest


@pytest.fixture
def write(tmp_path):
    """Write a text file under tmp_path and return its path as a string."""

    def _write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8", newline="")
        return str(path)

    return _write
