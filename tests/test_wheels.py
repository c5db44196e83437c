"""Every pin of requirements.txt installs as a binary wheel on every Python and platform the course supports.

Asks the package index (tools/wheels.py): Python 3.11 to 3.14 on Linux x86-64 and aarch64
(glibc 2.28+), macOS 14+ on arm64 and Windows x86-64. Needs the network and fails, never
skips, without it. The offline tests show the matching can say no.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tools import wheels  # noqa: E402

LINUX = wheels.PLATFORMS["Linux x86-64"]
MAC = wheels.PLATFORMS["macOS arm64"]


def test_every_pin_has_a_wheel_for_every_supported_python_and_platform():
    pins = wheels.read_pins(REPO / "requirements.txt")
    assert pins, "requirements.txt has no pins"
    start = time.monotonic()
    table = wheels.availability(pins)
    assert len(table) == len(pins) * len(wheels.PYTHONS) * len(wheels.PLATFORMS)
    problems = wheels.missing(table)
    assert not problems, "pins without a binary wheel:\n" + "\n".join(problems)
    print(f"{len(pins)} pins x {len(wheels.PYTHONS) * len(wheels.PLATFORMS)} targets checked "
          f"in {time.monotonic() - start:.1f} s")


def test_the_index_says_no_where_no_wheel_exists():
    """On the real index: numpy 1.26.4 has no wheel for Python 3.14, torch 2.13.0 none for macOS 13."""
    old_numpy = wheels.Pin("numpy", Version("1.26.4"))
    torch = wheels.Pin("torch", Version("2.13.0"))
    mac13 = {"macOS 13 arm64": [p for p in MAC if not p.startswith("macosx_14")]}
    table = wheels.availability([old_numpy], pythons=[(3, 12), (3, 14)], platforms={"Linux x86-64": LINUX})
    assert table[(old_numpy, (3, 12), "Linux x86-64")] is not None
    assert wheels.missing(table) == ["numpy==1.26.4: no wheel for Python 3.14 on Linux x86-64"]
    table = wheels.availability([torch], pythons=[(3, 13)], platforms={**mac13, "macOS arm64": MAC})
    assert wheels.missing(table) == ["torch==2.13.0: no wheel for Python 3.13 on macOS 13 arm64"]


def _file(name, requires=None, yanked=False):
    return {"filename": name, "requires-python": requires, "yanked": yanked}


@pytest.mark.parametrize("files, python, platforms, want", [
    ([_file("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")], (3, 12), LINUX, True),
    ([_file("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl")], (3, 13), LINUX, False),     # other Python
    ([_file("demo-1.0-cp312-abi3-manylinux_2_17_x86_64.whl")], (3, 14), LINUX, True),       # stable ABI
    ([_file("demo-1.0-cp313-cp313-manylinux_2_34_x86_64.whl")], (3, 13), LINUX, False),     # glibc too new
    ([_file("demo-1.0-cp313-cp313-win_amd64.whl")], (3, 13), LINUX, False),                 # other platform
    ([_file("demo-1.0-cp313-cp313-macosx_15_0_arm64.whl")], (3, 13), MAC, False),           # macOS too new
    ([_file("demo-1.0-cp313-cp313-macosx_11_0_universal2.whl")], (3, 13), MAC, True),
    ([_file("demo-1.0.tar.gz")], (3, 13), LINUX, False),                                    # sdist only
    ([_file("demo-1.0-py3-none-any.whl", yanked="broken")], (3, 13), LINUX, False),        # yanked
    ([_file("demo-1.0-py3-none-any.whl", requires=">=3.9,<3.13")], (3, 13), LINUX, False),  # Requires-Python
    ([_file("demo-1.0-py3-none-any.whl", requires=">=3.9")], (3, 14), LINUX, True),
    ([_file("demo-1.1-py3-none-any.whl")], (3, 13), LINUX, False),                          # other version
])
def test_wheel_matching(files, python, platforms, want):
    found = wheels.wheel_for(wheels.Pin("demo", Version("1.0")), files, python, platforms)
    assert (found is not None) == want, found


def test_requirements_must_be_exact_pins(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\nnumpy==2.4.6  # why\n\ntorch>=2\n")
    with pytest.raises(ValueError, match=r"line 4: expected an exact pin name==version, got 'torch>=2'"):
        wheels.read_pins(path)
    path.write_text("numpy==2.4.6\n")
    assert [str(p) for p in wheels.read_pins(path)] == ["numpy==2.4.6"]
