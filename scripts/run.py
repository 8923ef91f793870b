"""Set up and run the portal with demo keys on the embedded SQLite database.

    python3 scripts/run.py

Creates `.venv`, writes demo secrets to `instance/demo.env` (kept between runs, never committed),
migrates the database, creates the demo intake key pair once, and serves the citizen portal with
gunicorn on 127.0.0.1. Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from bootstrap import ROOT, VENV, ensure_venv

INSTANCE = ROOT / "instance"
DEMO_ENV = INSTANCE / "demo.env"
RECOVERY_FILE = INSTANCE / "demo-recovery-passphrase.txt"
CITIZEN_PORT = int(os.environ.get("CITIZEN_PORT", "8080"))


def read_env_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text)


def demo_environment() -> dict[str, str]:
    """Demo secrets, made once; the apps run in production mode with them, as an operator's would."""
    INSTANCE.mkdir(mode=0o700, exist_ok=True)
    values = read_env_file(DEMO_ENV)
    defaults = {
        "PORTAL_ENV": "production",
        "DATABASE_URL": f"sqlite:///{INSTANCE / 'portal.db'}",
        "CITIZEN_SECRET_KEY": secrets.token_urlsafe(48),
        "REVIEWER_SECRET_KEY": secrets.token_urlsafe(48),
        "RECEIPT_PEPPER": secrets.token_urlsafe(48),
        # The demo is served over plain http on 127.0.0.1; a real deployment is behind Tor or TLS.
        "COOKIE_SECURE": "false",
    }
    for name, value in defaults.items():
        values.setdefault(name, value)
    write_private(DEMO_ENV, "".join(f"{name}={value}\n" for name, value in values.items()))
    return values


def flask(env: dict[str, str], *args: str) -> str:
    command = [str(VENV / "bin" / "flask"), "--app", "wsgi:reviewer", *args]
    return subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def main() -> None:
    ensure_venv("requirements.txt")
    settings = demo_environment()
    env = {**os.environ, **settings}
    flask(env, "db", "upgrade")
    if "INTAKE_PUBLIC_KEY" not in settings:
        created = json.loads(flask(env, "keys", "init", "--json"))
        settings["INTAKE_PUBLIC_KEY"] = created["public_key"]
        write_private(DEMO_ENV, "".join(f"{name}={value}\n" for name, value in settings.items()))
        write_private(RECOVERY_FILE, created["recovery_passphrase"] + "\n")
        print(f"Demo intake key {created['key_id']} created; its recovery passphrase is in {RECOVERY_FILE}.")
    env = {**os.environ, **settings}
    citizen = [
        str(VENV / "bin" / "gunicorn"),
        "--config", str(ROOT / "config" / "gunicorn" / "citizen.py"),
        "--bind", f"127.0.0.1:{CITIZEN_PORT}",
        "wsgi:citizen",
    ]  # fmt: skip
    print(f"\nCitizen portal:  http://127.0.0.1:{CITIZEN_PORT}/", flush=True)
    print("Stop with Ctrl+C.\n", flush=True)
    try:
        sys.exit(subprocess.run(citizen, env=env, cwd=ROOT).returncode)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
