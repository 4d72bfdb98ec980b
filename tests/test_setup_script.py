"""scripts/setup.sh (behind `scripts/run.sh` and `scripts/test.sh`): a restart with nothing changed does not
reinstall; a changed pyproject.toml does. Run in a copy of the project whose `.venv/bin/pip` only records its
calls (the script's decision is under test, not pip)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _project(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", root / "scripts" / "setup.sh")
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    calls = tmp_path / "pip-calls.log"
    for name, body in (("python", "#!/bin/sh\nexit 0\n"), ("pip", f'#!/bin/sh\necho "$*" >> {calls}\n')):
        (bin_dir / name).write_text(body, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    return root, calls


def _setup(root: Path, *args: str) -> str:
    done = subprocess.run(["bash", "scripts/setup.sh", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stderr


def _installs(calls: Path) -> list[str]:
    return calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def test_a_restart_with_nothing_changed_does_not_reinstall(tmp_path: Path) -> None:
    root, calls = _project(tmp_path)
    _setup(root, "app")
    assert len(_installs(calls)) == 1 and _installs(calls)[0].endswith("-e .")
    assert "skipping pip install" in _setup(root, "app")
    assert len(_installs(calls)) == 1
    with (root / "pyproject.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n# a changed dependency list\n")
    _setup(root, "app")
    assert len(_installs(calls)) == 2  # pyproject.toml changed: installed again
    _setup(root)  # the test tools and the eval extra are not in the app install
    assert len(_installs(calls)) == 3 and "-e .[dev,eval]" in _installs(calls)[-1]
    assert "skipping pip install" in _setup(root, "app")  # the full install covers the app
    assert len(_installs(calls)) == 3
