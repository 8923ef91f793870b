"""Refresh the translation catalogs after changing user-facing text (run inside .venv).

    .venv/bin/python scripts/catalogs.py

Extracts every message from portal/ and templates/ into messages.pot, then merges it into the
vi and en catalogs; new messages appear untranslated there and the catalog test fails until
someone translates them.
"""

from __future__ import annotations

import subprocess
import sys

from bootstrap import ROOT

TRANSLATIONS = "portal/translations"


def main() -> None:
    babel = [sys.executable, "-m", "babel.messages.frontend"]
    template = f"{TRANSLATIONS}/messages.pot"
    subprocess.run(
        [*babel, "extract", "-F", "config/babel.cfg", "-k", "_l", "-k", "lazy_ngettext:1,2",
         "--no-location", "--omit-header", "--sort-output", "-o", template, "."],
        check=True, cwd=ROOT,
    )  # fmt: skip
    subprocess.run(
        [*babel, "update", "-i", template, "-d", TRANSLATIONS, "--no-fuzzy-matching", "--ignore-obsolete"],
        check=True, cwd=ROOT,
    )  # fmt: skip


if __name__ == "__main__":
    main()
