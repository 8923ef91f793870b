"""Set up and run both apps with demo keys, demo accounts and demo reports on embedded SQLite.

    python3 scripts/run.py

Creates `.venv`, writes demo secrets to `instance/demo.env` (kept between runs, never committed),
migrates the database, and the first time only: creates the demo intake key pair, a demo admin,
lead and inspector (credentials in `instance/demo-credentials.txt`) and files six demo reports.
Then serves the citizen portal and the reviewer app with gunicorn on 127.0.0.1. Standard library
only, so it runs before anything is installed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from bootstrap import ROOT, VENV, ensure_venv

INSTANCE = ROOT / "instance"
DEMO_ENV = INSTANCE / "demo.env"
RECOVERY_FILE = INSTANCE / "demo-recovery-passphrase.txt"
CREDENTIALS_FILE = INSTANCE / "demo-credentials.txt"
RECEIPTS_FILE = INSTANCE / "demo-receipts.txt"
CITIZEN_PORT = int(os.environ.get("CITIZEN_PORT", "8080"))
REVIEWER_PORT = int(os.environ.get("REVIEWER_PORT", "8081"))
DEMO_ACCOUNTS = (
    ("demo-admin", "admin", "Quản trị viên (demo)"),
    ("demo-lead", "lead", "Trưởng phòng (demo)"),
    ("demo-inspector", "inspector", "Thanh tra viên (demo)"),
)


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
        "AUDIT_KEY": secrets.token_urlsafe(48),
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


def first_run(settings: dict[str, str]) -> None:
    """Key pair, accounts and reports, made once: the accounts' one-time passwords are printed each run."""
    env = {**os.environ, **settings}
    created = json.loads(flask(env, "keys", "init", "--json"))
    settings["INTAKE_PUBLIC_KEY"] = created["public_key"]
    write_private(DEMO_ENV, "".join(f"{name}={value}\n" for name, value in settings.items()))
    write_private(RECOVERY_FILE, created["recovery_passphrase"] + "\n")
    print(f"Demo intake key {created['key_id']} created; its recovery passphrase is in {RECOVERY_FILE}.")
    env = {**env, "INTAKE_RECOVERY_PASSPHRASE": created["recovery_passphrase"]}
    lines = []
    for username, role, name in DEMO_ACCOUNTS:
        account = json.loads(flask(env, "inspectors", "add", username, "--role", role, "--name", name, "--json"))
        lines.append(f"{username} ({role})  one-time password: {account['password']}")
    write_private(CREDENTIALS_FILE, "\n".join(lines) + "\n")
    receipts = json.loads(flask(env, "demo", "seed", "--json"))
    write_private(RECEIPTS_FILE, "".join(f"{item['reference']}  {item['receipt']}\n" for item in receipts))


def gunicorn(app: str, port: int) -> list[str]:
    return [
        str(VENV / "bin" / "gunicorn"),
        "--config", str(ROOT / "config" / "gunicorn" / f"{app}.py"),
        "--bind", f"127.0.0.1:{port}",
        f"wsgi:{app}",
    ]  # fmt: skip


def main() -> None:
    ensure_venv("requirements.txt")
    settings = demo_environment()
    flask({**os.environ, **settings}, "db", "upgrade")
    if "INTAKE_PUBLIC_KEY" not in settings:
        first_run(settings)
    env = {**os.environ, **settings}
    apps = (("citizen", CITIZEN_PORT), ("reviewer", REVIEWER_PORT))
    servers = [subprocess.Popen(gunicorn(app, port), env=env, cwd=ROOT) for app, port in apps]
    print(f"\nCitizen portal:  http://127.0.0.1:{CITIZEN_PORT}/")
    print(f"Reviewer app:    http://127.0.0.1:{REVIEWER_PORT}/")
    print(f"\nDemo accounts ({CREDENTIALS_FILE}; the one-time password is replaced at the first login):")
    print(CREDENTIALS_FILE.read_text().rstrip())
    print("Log in with the user name, the one-time password and no code; then choose a password and link an")
    print("authenticator app with the key the setup page shows (or print codes with: python3 scripts/totp.py KEY).")
    print(f"\nDemo reports and their receipts ({RECEIPTS_FILE}):")
    print(RECEIPTS_FILE.read_text().rstrip())
    print("\nStop with Ctrl+C.\n", flush=True)
    try:
        while all(server.poll() is None for server in servers):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    # A server that stopped on its own (a port in use, a bad setting) fails the command.
    failures = [server.returncode for server in servers if server.returncode]
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait()
    sys.exit(failures[0] if failures else 0)


if __name__ == "__main__":
    main()
