"""Set up `.venv` from the pinned requirements, with nothing but Python 3.11+ (standard library only).

Shared by `scripts/run.py` and `scripts/test.py`. A stamp file named after the requirements' hash
makes a second run instant and a changed pin reinstall.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"


def _requirements_digest(requirements: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted({requirements, ROOT / "requirements.txt"}):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_venv(requirements_file: str) -> Path:
    """Create or update `.venv` for a requirements file; returns the venv's python."""
    if sys.version_info < (3, 11):
        sys.exit("Python 3.11 or newer is needed.")
    requirements = ROOT / requirements_file
    if not PYTHON.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / f".installed-{requirements.stem}-{_requirements_digest(requirements)}"
    if not stamp.exists():
        print(f"Installing {requirements_file} into .venv ...", flush=True)
        pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "install", "--quiet"]
        subprocess.run([*pip, "-r", str(requirements)], check=True, cwd=ROOT)
        stamp.touch()
    compile_catalogs()
    return PYTHON


def compile_catalogs() -> None:
    """The .mo files are build output, never committed: compile them from the .po sources."""
    subprocess.run(
        [str(PYTHON), "-m", "babel.messages.frontend", "compile", "-d", "portal/translations"],
        check=True,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
