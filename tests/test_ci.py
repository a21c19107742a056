""".ci/run, the CI entry point, run for real with stand-ins for the commands it drives (`make`, `apt-get`,
`python3`) first on PATH: each records how it was called. Nothing is installed and no test suite runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT

STAND_IN = """#!/bin/sh
echo "$(basename "$0") $* CI=${CI-} POSTGRES=${PRESSWIRE_TEST_REQUIRE_POSTGRES-} BROWSER=${PRESSWIRE_TEST_REQUIRE_BROWSER-}" >> "$CALLS"
exit %d
"""


def run_ci(tmp_path: Path, *, python_venv: bool = True, apt_status: int = 0) -> tuple[int, list[str]]:
    """Run a copy of .ci/run; `python_venv`: whether the machine's python3 can create a venv (ensurepip)."""
    tree, bin_dir, calls = tmp_path / "repo", tmp_path / "bin", tmp_path / "calls"
    (tree / ".ci").mkdir(parents=True)
    shutil.copy2(ROOT / ".ci" / "run", tree / ".ci" / "run")
    bin_dir.mkdir()
    for name, status in (("make", 0), ("apt-get", apt_status), ("python3", 0 if python_venv else 1)):
        (bin_dir / name).write_text(STAND_IN % status)
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PRESSWIRE_")}
    env.update(PATH=f"{bin_dir}:/usr/bin:/bin", CALLS=str(calls))
    done = subprocess.run([str(tree / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=60)
    return done.returncode, calls.read_text().splitlines() if calls.exists() else []


def test_ci_runs_the_readme_test_command_as_ci(tmp_path):
    """`make test` (the README's), with the variables tests/conftest.py reads in CI: PostgreSQL and the
    browser required, and CI set, so that hypothesis tries a fixed sequence of examples (a red CI means a
    change broke something, not that a new random example turned up)."""
    status, calls = run_ci(tmp_path)
    assert status == 0
    assert calls[-1] == "make test CI=1 POSTGRES=1 BROWSER=1"


def test_ci_installs_python3_venv_where_python3_cannot_make_a_venv(tmp_path):
    """Debian's python3 has no ensurepip without python3-venv, and `make test` starts with python3 -m venv."""
    status, calls = run_ci(tmp_path, python_venv=False)
    installs = [call.split() for call in calls if call.startswith("apt-get install")]
    assert status == 0 and installs and "python3-venv" in installs[0]
    assert calls[-1].startswith("make test")


def test_ci_stops_before_the_tests_when_apt_fails(tmp_path):
    status, calls = run_ci(tmp_path, python_venv=False, apt_status=100)
    assert status != 0
    assert [call for call in calls if call.startswith("make")] == []
