"""Set up `.venv` with the dev dependencies and the browser-test tools, and run the whole test suite.

    python3 scripts/test.py [pytest arguments]

Exits with pytest's own status, so a run that collects no test (exit 5) fails too.
Set TEST_DATABASE_URL to a PostgreSQL URL to run every storage test on PostgreSQL as well.

The browser tests need Debian's Chromium and axe-core (from the npm registry, `package.json`). When
they are missing this installs them if it can (Chromium needs root and apt-get); when it cannot, the
browser tests are reported as skipped with the reason, never silently left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from bootstrap import ROOT, ensure_venv

CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print("Chromium is missing and cannot be installed here (needs root and apt-get): browser tests will skip.")
        return
    print("Installing Debian's Chromium for the browser tests ...", flush=True)
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    if subprocess.run(install, **quiet).returncode != 0:  # type: ignore[call-overload]
        subprocess.run(["apt-get", "update"], **quiet)  # type: ignore[call-overload]
        subprocess.run(install, **quiet)  # type: ignore[call-overload]


def ensure_axe() -> None:
    if (ROOT / "node_modules" / "axe-core" / "axe.min.js").exists():
        return
    if shutil.which("npm") is None:
        print("npm is missing: the accessibility tests will skip.")
        return
    print("Installing axe-core from the npm registry for the accessibility tests ...", flush=True)
    command = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
    subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> int:
    python = ensure_venv("requirements-dev.txt")
    ensure_chromium()
    ensure_axe()
    return subprocess.run([str(python), "-m", "pytest", *sys.argv[1:]], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
