"""Does every pin of requirements.txt have a binary wheel for every supported Python and platform?

    python tools/wheels.py          # a table, and exit 1 naming each pin and platform without a wheel

The package index is asked once per pin for its list of files (the JSON form of the simple
API, PEP 691; nothing is downloaded but that list). A pin counts as available for a target
(Python version, platform) when one of its files is a wheel, not yanked, whose tags are among
the tags that target's pip would accept (`packaging.tags`, the library pip itself uses) and whose
Requires-Python admits that Python. Source distributions never count: a student's laptop has no
compiler set up for them.

The index is PIP_INDEX_URL, else pip's configured index-url, else pip's default.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent

PYTHONS = [(3, 11), (3, 12), (3, 13), (3, 14)]
# Each platform as the platform tags its pip accepts, newest first. Linux: glibc 2.28 or newer
# (manylinux_2_28: Debian 10, Ubuntu 18.10, RHEL 8 and later), which also takes the older
# manylinux wheels; macOS: 14 (Sonoma) or newer on Apple silicon, which also takes wheels for
# macOS 11 to 14 and universal2 ones; Windows: 64-bit x86.
PLATFORMS = {
    "Linux x86-64": [f"manylinux_2_{m}_x86_64" for m in range(28, 4, -1)]
                    + ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"],
    "Linux aarch64": [f"manylinux_2_{m}_aarch64" for m in range(28, 16, -1)] + ["manylinux2014_aarch64"],
    "macOS arm64": list(mac_platforms((14, 0), "arm64")),
    "Windows x86-64": ["win_amd64"],
}
JSON_SIMPLE = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


def read_pins(path: Path) -> list[Pin]:
    """Every `name==version` line of a requirements file; ValueError for any other requirement."""
    pins = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as e:
            raise ValueError(f"{path}, line {number}: {line!r} is not a requirement ({e})") from None
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==" or "*" in specs[0].version:
            raise ValueError(f"{path}, line {number}: expected an exact pin name==version, got {line!r}")
        pins.append(Pin(req.name, Version(specs[0].version)))
    return pins


def target_tags(python: tuple[int, int], platforms: list[str]) -> set[Tag]:
    """The wheel tags pip accepts for CPython `python` on `platforms`, as pip builds them."""
    abi = f"cp{python[0]}{python[1]}"
    return set(cpython_tags(python, [abi], platforms)) | set(compatible_tags(python, abi, platforms))


def wheel_for(pin: Pin, files: list[dict], python: tuple[int, int], platforms: list[str]) -> str | None:
    """The name of a file of `pin` that pip would install for `python` on `platforms`, or None.

    files: the index's file entries for the project (PEP 691: filename, requires-python, yanked).
    """
    accepted = target_tags(python, platforms)
    for f in files:
        filename = f.get("filename", "")
        if not filename.endswith(".whl") or f.get("yanked"):
            continue
        try:
            name, version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if name != canonicalize_name(pin.name) or version != pin.version or not tags & accepted:
            continue
        requires = f.get("requires-python")
        if requires and not SpecifierSet(requires).contains(f"{python[0]}.{python[1]}", prereleases=True):
            continue
        return filename
    return None


def index_url() -> str:
    """PIP_INDEX_URL, else pip's configured global.index-url, else pip's default index."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"].split()[0]
    configured = subprocess.run([sys.executable, "-m", "pip", "config", "get", "global.index-url"],
                                capture_output=True, text=True)
    if configured.returncode == 0 and configured.stdout.strip():
        return configured.stdout.strip()
    from pip._internal.models.index import PyPI  # pip's default index, the one students use

    return PyPI.simple_url


def project_files(base: str, name: str, timeout: float = 60.0) -> list[dict]:
    """The file entries the index lists for project `name` (PEP 691 JSON)."""
    url = f"{base.rstrip('/')}/{canonicalize_name(name)}/"
    request = urllib.request.Request(url, headers={"Accept": JSON_SIMPLE})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            kind = response.headers.get("Content-Type", "")
            body = response.read()
    except (urllib.error.URLError, OSError) as e:
        raise RuntimeError(f"could not ask the package index about {name} ({url}): {e}; "
                           "this check needs the network") from None
    if JSON_SIMPLE not in kind:
        raise RuntimeError(f"the package index answered {kind!r} for {url}, not the JSON simple API "
                           f"({JSON_SIMPLE}); point PIP_INDEX_URL at an index that serves it")
    return json.loads(body)["files"]


def availability(pins: list[Pin], base: str | None = None, pythons=PYTHONS, platforms=PLATFORMS,
                 fetch=project_files) -> dict:
    """{(pin, python, platform name): wheel file name or None} for every combination.

    fetch(base, name) -> file entries; the index is asked once per pin, in parallel.
    """
    base = base or index_url()
    with ThreadPoolExecutor(max_workers=8) as pool:
        files = dict(zip(pins, pool.map(lambda pin: fetch(base, pin.name), pins)))
    return {(pin, python, platform): wheel_for(pin, files[pin], python, tags)
            for pin in pins for python in pythons for platform, tags in platforms.items()}


def missing(table: dict) -> list[str]:
    """'pin: no wheel for Python X.Y on platform' for every None in an availability table."""
    return [f"{pin}: no wheel for Python {python[0]}.{python[1]} on {platform}"
            for (pin, python, platform), wheel in table.items() if wheel is None]


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=REPO / "requirements.txt")
    args = parser.parse_args(argv)
    pins = read_pins(args.requirements)
    table = availability(pins)
    targets = [(py, plat) for py in PYTHONS for plat in PLATFORMS]
    print(f"{len(pins)} pins x {len(targets)} targets (Python {', '.join(f'{a}.{b}' for a, b in PYTHONS)} "
          f"on {', '.join(PLATFORMS)})")
    for pin in pins:
        have = sum(table[(pin, py, plat)] is not None for py, plat in targets)
        print(f"  {str(pin):<22} {have:>2}/{len(targets)}")
    problems = missing(table)
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
