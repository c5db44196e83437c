"""course.py, the README's commands: which Python it picks, what it says, how stages fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import course  # noqa: E402


def fake_pythons(monkeypatch, found: dict):
    """Make the candidate commands start the Pythons of `found` ({command: (major, minor)})."""
    monkeypatch.delenv("PYTHON", raising=False)
    monkeypatch.setattr(course, "_candidates", lambda: [[c] for c in list(found) + ["missing"]])
    monkeypatch.setattr(course, "_probe", lambda cmd: (found[cmd[0]], f"/usr/bin/{cmd[0]}")
                        if cmd[0] in found else None)


def test_the_newest_supported_python_is_used(monkeypatch):
    fake_pythons(monkeypatch, {"python3": (3, 12), "python3.14": (3, 14), "python3.15": (3, 15),
                               "python3.11": (3, 11), "python2": (2, 7)})
    assert course.find_python() == ("/usr/bin/python3.14", (3, 14))


def test_no_supported_python_names_what_was_found(monkeypatch):
    fake_pythons(monkeypatch, {"python3": (3, 10), "python3.15": (3, 15)})
    with pytest.raises(course.SetupError) as error:
        course.find_python()
    message = str(error.value)
    assert "Python 3.11 to 3.14 is needed" in message
    assert "/usr/bin/python3 (Python 3.10)" in message and "/usr/bin/python3.15 (Python 3.15)" in message


def test_python_variable_is_obeyed_and_checked(monkeypatch):
    fake_pythons(monkeypatch, {"python3.14": (3, 14), "old": (3, 9)})
    monkeypatch.setenv("PYTHON", "old")
    with pytest.raises(course.SetupError, match=r"PYTHON=old is Python 3.9; Python 3.11 to 3.14 is needed"):
        course.find_python()
    monkeypatch.setenv("PYTHON", "missing")
    with pytest.raises(course.SetupError, match="PYTHON=missing does not start a Python"):
        course.find_python()


def test_probe_reads_a_real_interpreter():
    version, exe = course._probe([sys.executable])
    assert version == sys.version_info[:2] and Path(exe).exists()
    assert course._probe(["no-such-python-here"]) is None


@pytest.mark.parametrize("codes, verdict, rc", [
    ([0, 0], "all stages passed", 0),
    ([5, 0], "FAILED: no tests were collected (pytest exit 5)", 1),
    ([0, 1], "stage (b) nbval solutions/: FAILED (pytest exit 1)", 1),
])
def test_test_stages_and_summary(monkeypatch, capsys, codes, verdict, rc):
    calls = []
    monkeypatch.setattr(course, "setup", lambda: None)
    monkeypatch.setattr(course, "run_install_steps", lambda: None)
    monkeypatch.setenv("PYTHONPATH", "/somewhere")

    def fake_run(command, cwd=None, env=None):
        calls.append((command, env))
        return subprocess.CompletedProcess(command, codes[len(calls) - 1])

    monkeypatch.setattr(course.subprocess, "run", fake_run)
    assert course.test(["-k", "vocab"]) == rc
    out = capsys.readouterr().out
    assert verdict in out
    (first, env), (second, _) = calls
    assert first[-3:] == ["tests", "-k", "vocab"] and second[-2:] == ["--nbval", "solutions/"]
    assert "PYTHONPATH" not in env and env["OMP_NUM_THREADS"] == "1"


def test_bad_command_says_what_is_expected(capsys):
    assert course.main(["serve"]) == 2
    assert "expected a command, one of setup, lab, test; got 'serve'" in capsys.readouterr().err
    assert course.main([]) == 2


def test_bash_wrappers_call_course_py():
    for name, command in [("setup.sh", "course setup"), ("lab.sh", "course lab"), ("test.sh", "course test")]:
        text = (REPO / "scripts" / name).read_text()
        assert f'{command} "$@"' in text, name
