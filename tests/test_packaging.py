"""What people install: the sdist is the whole project (its tests run from it, `make test`), and the wheel
built from it, as pip builds one, carries every file presswire reads at run time besides its modules (the
migrations, the default promo rules, the web templates and stylesheet). Both are built here with the
installed setuptools, without build isolation (no network), from a copy of the source tree, with no
setuptools deprecation (a build that a later setuptools refuses).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from fnmatch import fnmatch
from pathlib import Path

import pytest

from conftest import ROOT

pytest.importorskip("setuptools", minversion="77", reason="[build-system] needs setuptools 77")

# what a source tree holds besides the project: git, the venv, caches, build output, databases
_NOT_THE_PROJECT = (".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "*.py[cod]",
                    ".pytest_cache", ".hypothesis", "*.db", "*.db-wal", "*.db-shm")


def _build(kind: str, source: Path, out: Path) -> Path:
    """Build with setuptools' deprecations as errors: each is a build that a later setuptools refuses."""
    code = ("import sys, warnings; from setuptools import SetuptoolsDeprecationWarning, build_meta; "
            "warnings.simplefilter('error', SetuptoolsDeprecationWarning); "
            f"print(build_meta.build_{kind}(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", code, str(out)], cwd=source, capture_output=True, text=True)
    assert done.returncode == 0, f"build_{kind} in {source}: {done.stderr[-3000:]}"
    return out / done.stdout.split()[-1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree") / "presswire"
    shutil.copytree(ROOT, tree, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_THE_PROJECT))
    (tree / "deploy" / ".env").write_text("POSTGRES_PASSWORD=secret\n")  # deploy/README.md's compose step
    return _build("sdist", tree, tmp_path_factory.mktemp("dist"))


def _project_files() -> set[str]:
    """The files of this source tree that make the project, as paths relative to it."""
    files = {path.relative_to(ROOT).parts for top in ("ingest", "store", "tests", "fixtures", "config", "deploy",
                                                      "bench") for path in (ROOT / top).rglob("*") if path.is_file()}
    return {"/".join(parts) for parts in files
            if not any(fnmatch(part, pattern) for part in parts for pattern in _NOT_THE_PROJECT)} | {
        "pyproject.toml", "README.md", "Makefile", "MANIFEST.in", ".ci/run"}


def test_sdist_is_the_whole_project_without_secrets(sdist):
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    missing = sorted(_project_files() - {"deploy/.env"} - names)
    assert missing == [], f"{sdist.name} lacks {missing[:20]}"
    assert "deploy/.env" not in names


def test_wheel_built_from_the_sdist_carries_what_presswire_reads(sdist, tmp_path):
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp_path, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    wheel = _build("wheel", tmp_path / sdist.name.removesuffix(".tar.gz"), tmp_path / "dist")
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        rules = whl.read("ingest/promo_rules.toml").decode()
        entry_points = next(whl.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    needed = {"ingest/promo_rules.toml", "store/migrations/env.py", "store/migrations/script.py.mako"}
    needed |= {str(p.relative_to(ROOT)) for p in (ROOT / "store" / "migrations" / "versions").glob("*.py")}
    needed |= {str(p.relative_to(ROOT)) for folder in ("templates", "static")
               for p in (ROOT / "ingest" / "web" / folder).iterdir() if p.is_file()}
    assert sorted(needed - names) == []
    assert rules == (ROOT / "config" / "promo_rules.toml").read_text()  # the file, not a dangling link
    assert "presswire = ingest.__main__:main" in entry_points
