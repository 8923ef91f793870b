"""Set up `.venv` with the dev dependencies and the browser-test tools, and run the whole test suite.

    python3 scripts/test.py [pytest arguments]

Exits with pytest's own status, so a run that collects no test (exit 5) fails too.
Set TEST_DATABASE_URL to a PostgreSQL URL to run every storage test on PostgreSQL as well.

The browser tests need Debian's Chromium and axe-core (from the npm registry, `package.json`); the deploy
recipe tests (tests/deploy/) need Debian's nginx and tor. When they are missing this installs them if it can
(the Debian packages need root and apt-get; their services are never started); when it cannot, those tests
are reported as skipped with the reason, never silently left out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bootstrap import ROOT, ensure_venv

# The Debian package that provides each program the tests run: Chromium for the browser tests, nginx and tor
# for the deploy recipe tests. nginx and tor come with a service, which the tests never need running.
DEBIAN_TOOLS = {"/usr/bin/chromium": "chromium", "/usr/sbin/nginx": "nginx", "/usr/sbin/tor": "tor"}
SERVICES = {"nginx": "nginx.service", "tor": "tor.service"}
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def ensure_debian_tools() -> None:
    missing = sorted({package for program, package in DEBIAN_TOOLS.items() if not os.path.exists(program)})
    if not missing:
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print(f"{', '.join(missing)}: missing and cannot be installed here (needs root and apt-get); the tests")
        print("that need them will skip.")
        return
    print(f"Installing Debian's {', '.join(missing)} for the tests ...", flush=True)
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    quiet = {"stdout": subprocess.DEVNULL, "env": {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}}
    with services_not_started():
        if subprocess.run(install, check=False, **quiet).returncode != 0:  # type: ignore[call-overload]
            subprocess.run(["apt-get", "update"], check=False, **quiet)  # type: ignore[call-overload]
            subprocess.run(install, check=False, **quiet)  # type: ignore[call-overload]
    services = [SERVICES[package] for package in missing if package in SERVICES]
    if services and shutil.which("systemctl"):  # nor started at the next boot
        subprocess.run(["systemctl", "disable", "--quiet", *services], check=False, stderr=subprocess.DEVNULL)


@contextmanager
def services_not_started() -> Iterator[None]:
    """Debian's maintainer scripts start a service only if /usr/sbin/policy-rc.d allows it (exit 101: no). A policy
    the machine already has (containers often do) is left as it is."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text(
        "#!/bin/sh\n# Written by scripts/test.py while it installs test tools; removed afterwards.\nexit 101\n"
    )
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink()


def ensure_axe() -> None:
    if (ROOT / "node_modules" / "axe-core" / "axe.min.js").exists():
        return
    if shutil.which("npm") is None:
        print("npm is missing: the accessibility tests will skip.")
        return
    print("Installing axe-core from the npm registry for the accessibility tests ...", flush=True)
    command = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
    subprocess.run(command, check=False, cwd=ROOT, stdout=subprocess.DEVNULL)


def main() -> int:
    python = ensure_venv("requirements-dev.txt")
    ensure_debian_tools()
    ensure_axe()
    return subprocess.run([str(python), "-m", "pytest", *sys.argv[1:]], check=False, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
