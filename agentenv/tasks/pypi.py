"""Real code from the package index: `repo_source: pypi:NAME==VERSION` names a source
distribution, fetched when a task needs it (never committed), checked against the index's
sha256, cached, and unpacked as the task's repository.

The index is the one pip uses here (`PIP_INDEX_URL`, else `pip config`, else PyPI), read
through its simple API, with the CA bundle pip uses (`PIP_CERT`).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import ssl
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

CACHE_DIR = Path(os.environ.get("AGENTENV_CACHE", Path.home() / ".cache" / "agentenv"))
DEFAULT_INDEX = "https://pypi.org/simple"
_SPEC = re.compile(r"^pypi:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9][A-Za-z0-9.+!_-]*)$")
_LINK = re.compile(r'href="([^"]+)"')


class PypiSourceError(ValueError):
    """A pypi: source cannot be fetched or unpacked; the message says why."""


@dataclass(frozen=True)
class PypiSpec:
    name: str
    version: str

    @property
    def normalized(self) -> str:
        return re.sub(r"[-_.]+", "-", self.name).lower()

    @property
    def key(self) -> str:
        return f"{self.normalized}-{self.version}"


def is_pypi(source: str) -> bool:
    return source.startswith("pypi:")


def parse_spec(source: str) -> PypiSpec:
    match = _SPEC.match(source.strip())
    if not match:
        raise PypiSourceError(f"{source!r} is not of the form pypi:NAME==VERSION")
    return PypiSpec(match["name"], match["version"])


def _index_url() -> str:
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].rstrip("/")
    try:
        configured = subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.index-url"],
            capture_output=True, text=True, timeout=30, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        configured = ""
    return (configured or DEFAULT_INDEX).rstrip("/")


def _context() -> ssl.SSLContext:
    cafile = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=cafile) if cafile and Path(cafile).is_file() else ssl.create_default_context()


class _NotFound(PypiSourceError):
    """The index answered 404."""


def _get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": "text/html", "User-Agent": "agentenv"})
    try:
        with urllib.request.urlopen(request, context=_context(), timeout=120) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        error = _NotFound if exc.code == 404 else PypiSourceError
        raise error(f"cannot fetch {url}: {exc}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise PypiSourceError(f"cannot fetch {url}: {exc}") from None


def _sdist_link(spec: PypiSpec) -> tuple[str, str, str | None]:
    """(url, file name, sha256 or None) of the sdist on the index's simple page."""
    index = _index_url()
    try:
        page = _get(f"{index}/{spec.normalized}/").decode("utf-8", errors="replace")
    except _NotFound:
        raise PypiSourceError(f"no package named {spec.name!r} on {index}") from None
    stems = {f"{spec.name}-{spec.version}", f"{spec.normalized}-{spec.version}", f"{spec.normalized.replace('-', '_')}-{spec.version}"}
    for href in _LINK.findall(page):
        url = html.unescape(href)
        filename = url.split("#", 1)[0].rsplit("/", 1)[-1]
        for suffix in (".tar.gz", ".zip"):
            if filename.endswith(suffix) and filename[: -len(suffix)].lower() in {s.lower() for s in stems}:
                digest = re.search(r"#sha256=([0-9a-f]{64})", url)
                absolute = url if "://" in url else urllib.parse.urljoin(f"{index}/{spec.normalized}/", url)
                return absolute.split("#", 1)[0], filename, digest.group(1) if digest else None
    raise PypiSourceError(f"no source distribution of {spec.name}=={spec.version} on {index}")


def sdist_versions(name: str) -> list[str]:
    """The versions of `name` that have a source distribution on the index, in the order the
    index lists them (not sorted: ordering versions is the caller's business)."""
    spec = PypiSpec(name, "0")
    index = _index_url()
    try:
        page = _get(f"{index}/{spec.normalized}/").decode("utf-8", errors="replace")
    except _NotFound:
        raise PypiSourceError(f"no package named {name!r} on {index}") from None
    prefixes = {spec.normalized, spec.normalized.replace("-", "_"), name.lower()}
    versions: dict[str, None] = {}
    for href in _LINK.findall(page):
        filename = html.unescape(href).split("#", 1)[0].rsplit("/", 1)[-1]
        for suffix in (".tar.gz", ".zip"):
            stem = filename[: -len(suffix)] if filename.endswith(suffix) else ""
            for prefix in prefixes:
                if stem.lower().startswith(prefix + "-"):
                    versions[stem[len(prefix) + 1 :]] = None
    return list(versions)


def fetch_sdist(spec: PypiSpec) -> tuple[Path, str]:
    """The sdist in the cache (downloaded once, hash-checked): (path, sha256)."""
    folder = CACHE_DIR / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / f"{spec.key}.lock")):
        # Exact names: a glob on `foo-1.0.*` would also find foo-1.0.1's sdist.
        existing = [p for p in (folder / f"{spec.key}.tar.gz", folder / f"{spec.key}.zip") if p.is_file()]
        if existing:
            return existing[0], hashlib.sha256(existing[0].read_bytes()).hexdigest()
        url, filename, expected = _sdist_link(spec)
        data = _get(url)
        digest = hashlib.sha256(data).hexdigest()
        if expected and digest != expected:
            raise PypiSourceError(f"{filename}: sha256 {digest} does not match the index's {expected}")
        target = folder / (spec.key + (".tar.gz" if filename.endswith(".tar.gz") else ".zip"))
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        partial.replace(target)  # a killed download never leaves a truncated archive behind
        return target, digest


def _extract(archive: Path, destination: Path) -> None:
    try:
        _unpack(archive, destination)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
        raise PypiSourceError(
            f"{archive}: the cached sdist cannot be unpacked ({type(exc).__name__}: {exc}); delete it to fetch it again"
        ) from None


def _unpack(archive: Path, destination: Path) -> None:
    with tempfile.TemporaryDirectory(dir=destination.parent) as scratch:
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as opened:
                for member in opened.namelist():
                    if member.startswith("/") or ".." in Path(member).parts:
                        raise PypiSourceError(f"{archive.name}: unsafe path {member!r}")
                opened.extractall(scratch)
        else:
            with tarfile.open(archive) as opened:
                opened.extractall(scratch, filter="data")  # refuses absolute paths, links out, devices
        roots = list(Path(scratch).iterdir())
        top = roots[0] if len(roots) == 1 and roots[0].is_dir() else Path(scratch)
        shutil.move(str(top), destination)


def pristine_tree(spec: PypiSpec) -> tuple[Path, str]:
    """The unpacked sdist (cached, never modified): (folder, the sdist's sha256)."""
    archive, digest = fetch_sdist(spec)
    folder = CACHE_DIR / "pypi" / f"{spec.key}-{digest[:12]}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if not folder.is_dir():
            _extract(archive, folder)
    return folder, digest
