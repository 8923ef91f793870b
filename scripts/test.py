"""Set up `.venv` with the dev dependencies and run the whole test suite.

    python3 scripts/test.py [pytest arguments]

Exits with pytest's own status, so a run that collects no test (exit 5) fails too.
Set TEST_DATABASE_URL to a PostgreSQL URL to run every storage test on PostgreSQL as well.
"""

from __future__ import annotations

import subprocess
import sys

from bootstrap import ROOT, ensure_venv


def main() -> int:
    python = ensure_venv("requirements-dev.txt")
    return subprocess.run([str(python), "-m", "pytest", *sys.argv[1:]], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
