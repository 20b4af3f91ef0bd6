#!/usr/bin/env python3
"""Set-up and tasks with nothing but Python: `python3 dev.py run` and `python3 dev.py test`.

Creates .venv on first use (and again whenever the lock files change), installs the pinned
dependencies and the project, then runs the task inside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".xueyong-installed"
INPUTS = ("requirements.lock", "requirements-dev.lock", "pyproject.toml")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def ensure_venv() -> None:
    wanted = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("installing pinned dependencies ...", flush=True)
    pip = [BIN / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    steps = (
        [*pip, "-r", "requirements-dev.lock"],
        [*pip, "--no-deps", "-e", "."],
    )
    for step in steps:
        if _run(*step) != 0:
            sys.exit("dependency installation failed")
    STAMP.write_text(wanted)


# Debian packages, each looked for by a file it installs: a CJK font so that Chinese renders
# in charts (the bot) and screenshots, emoji for screenshots, and a real browser for the
# sandbox page's tests.
FONT_PACKAGES = {
    "fonts-noto-cjk": "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
}
TEST_PACKAGES = {
    **FONT_PACKAGES,
    "fonts-noto-color-emoji": "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
    "chromium": "/usr/bin/chromium",
}


def ensure_system_packages(packages: dict[str, str]) -> None:
    missing = [name for name, path in packages.items() if not Path(path).exists()]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        print(
            f"note: {', '.join(missing)} not installed and apt-get as root is not available;"
            " charts may lack Chinese glyphs and the browser tests will be skipped",
            flush=True,
        )
        return
    print(f"installing {', '.join(missing)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", *missing]):
        if subprocess.call(step, stdout=subprocess.DEVNULL, env=env) != 0:
            print("note: apt-get could not install them (see above); continuing without")
            return


def task_run(args: list[str]) -> int:
    ensure_system_packages(FONT_PACKAGES)
    return _run(BIN / "xueyong", "run", *args)


def task_test(args: list[str]) -> int:
    ensure_system_packages(TEST_PACKAGES)
    checks = (
        [BIN / "ruff", "check", "."],
        [BIN / "ruff", "format", "--check", "."],
        [BIN / "mypy"],
    )
    for check in checks:
        if _run(*check) != 0:
            return 1
    return _run(BIN / "pytest", *_parallel(), *args)


def _parallel() -> list[str]:
    """pytest-xdist options: a worker per core (8 at most: each takes a Redis database of its
    own), tests handed out as workers free up. `-n 0` among the arguments runs one process."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ["-n", str(min(cores or 1, 8)), "--dist", "worksteal"]


TASKS = {"run": task_run, "test": task_test}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        print(f"usage: python3 dev.py {{{'|'.join(TASKS)}}} [args...]", file=sys.stderr)
        return 2
    ensure_venv()
    return TASKS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
