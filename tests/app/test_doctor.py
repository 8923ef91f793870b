"""`flask --app wsgi:<kind> doctor`, run as an operator runs it, on a copy of the code as it is deployed.

Each test makes one misconfiguration for real (a secret missing, published or reused, a file others can
read, a gunicorn config with an access log, a public bind, a retired intake key, an edited audit row, ...)
and checks the line the operator sees and the exit status; a clean production-like setup reports no
problem and no warning. No run ever prints a secret's value. The code is copied so that its `instance/`
folder is the test's own, as /opt/portal/instance is the deployment's.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, make_url, text, update
from sqlalchemy.sql import Executable

from crypto.keys import KeyPair, generate_keypair, key_id, public_key_b64
from crypto.wrapping import TESTING, generate_recovery_passphrase, wrap_with_passphrase
from portal import audit
from portal.db import Database
from portal.migrate import revisions, upgrade
from portal.models import AuditEvent, IntakeKey
from portal.settings import PROJECT_ROOT
from portal.workdays import today
from tests.servers import free_port

SECRET_NAMES = ("CITIZEN_SECRET_KEY", "RECEIPT_PEPPER", "REVIEWER_SECRET_KEY", "AUDIT_KEY")
NOT_CODE = ("instance", ".git", ".venv", "node_modules", "__pycache__", ".pytest_cache", ".hypothesis", "screenshots")


@dataclass
class Run:
    status: int
    lines: list[str]

    def problems(self) -> list[str]:
        return [line for line in self.lines if line.startswith("problem: ")]

    def warnings(self) -> list[str]:
        return [line for line in self.lines if line.startswith("warning: ")]

    def has(self, start: str) -> bool:
        return any(line.startswith(start) for line in self.lines)


@pytest.fixture(scope="session")
def code_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The portal's code without its instance folder, virtualenv or history, as /opt/portal holds it."""
    root = tmp_path_factory.mktemp("deployed") / "portal"
    shutil.copytree(PROJECT_ROOT, root, ignore=shutil.ignore_patterns(*NOT_CODE))
    return root


@pytest.fixture
def code(code_copy: Path) -> Iterator[Path]:
    yield code_copy
    shutil.rmtree(code_copy / "instance", ignore_errors=True)


def record_intake_key(url: str, keys: KeyPair, active: bool = True) -> None:
    database = Database(url)
    with database.transaction() as session:
        session.add(
            IntakeKey(
                id=key_id(keys.public),
                public_key=keys.public,
                recovery_wrapped_private_key=wrap_with_passphrase(
                    keys.private, generate_recovery_passphrase(), TESTING
                ),
                created_on=today(),
                active=active,
            )
        )
    database.dispose()


def record_audit_events(url: str, key: str, count: int) -> None:
    database = Database(url)
    for _ in range(count):
        with database.transaction() as session:
            audit.record(session, key.encode(), audit.Action.LOGIN, actor="demo-admin")
    database.dispose()


def change(url: str, statement: Executable) -> None:
    database = Database(url)
    with database.transaction() as session:
        session.execute(statement)
    database.dispose()


def make_private(folder: Path) -> None:
    """What the service's UMask=0077 gives: the SQLite database and its journal files readable by the owner only."""
    for path in folder.glob("*.db*"):
        path.chmod(0o600)


@pytest.fixture
def production(database_url: str, intake_keys: KeyPair, tmp_path: Path) -> dict[str, str]:
    """A clean production-like environment for both apps: random secrets, private files, schema at head,
    the active intake key configured and recorded, a trail that verifies, gunicorn on unix sockets."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PORTAL_ENV": "production",
        "DATABASE_URL": database_url,
        "INTAKE_PUBLIC_KEY": public_key_b64(intake_keys.public),
        **{name: secrets.token_urlsafe(48) for name in SECRET_NAMES},
        "CITIZEN_BIND": f"unix:{tmp_path}/citizen.sock",
        "REVIEWER_BIND": f"unix:{tmp_path}/reviewer.sock",
        # One worker each, so in-memory rate limits hold; Redis is tested on its own below.
        "CITIZEN_WORKERS": "1",
        "REVIEWER_WORKERS": "1",
    }
    record_intake_key(database_url, intake_keys)
    record_audit_events(database_url, env["AUDIT_KEY"], 2)
    make_private(tmp_path)
    return env


def doctor(code: Path, kind: str, env: dict[str, str], *options: str) -> Run:
    command = [sys.executable, "-m", "flask", "--app", f"wsgi:{kind}", "doctor", *options]
    done = subprocess.run(command, cwd=code, env=env, capture_output=True, text=True, timeout=120, check=False)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    for name in SECRET_NAMES:
        value = env.get(name, "")
        assert len(value) < 8 or value not in output, f"the value of {name} was printed"
    lines = done.stdout.splitlines()
    assert lines and lines[-1].endswith(("warning", "warnings")), output
    assert done.returncode == (1 if any(line.startswith("problem: ") for line in lines) else 0), output
    return Run(done.returncode, lines)


def write_gunicorn_config(tmp_path: Path, kind: str, extra: str) -> Path:
    """The shipped config with one line changed, as an operator's edit would."""
    config = tmp_path / f"{kind}-gunicorn.py"
    shipped = (PROJECT_ROOT / "config" / "gunicorn" / f"{kind}.py").read_text()
    config.write_text(f"{shipped}\n{extra}\n")
    return config


# --- a clean setup ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["citizen", "reviewer"])
def test_a_clean_production_setup_reports_no_problem_and_no_warning(
    code: Path, production: dict[str, str], kind: str, intake_keys: KeyPair
) -> None:
    run = doctor(code, kind, production)
    assert run.status == 0, run.lines
    assert run.problems() == [] and run.warnings() == [], run.lines
    assert run.lines[-1] == "0 problems, 0 warnings"
    assert run.has(f"ok: the {kind} app accepts its settings")
    assert run.has(f"ok: the schema is at the latest migration ({revisions()[-1]})")
    assert run.has("ok: gunicorn writes no access log")
    if kind == "citizen":
        assert run.has(f"ok: INTAKE_PUBLIC_KEY is the active intake key {key_id(intake_keys.public)}")
    else:
        assert run.has(f"ok: intake key {key_id(intake_keys.public)} is active")
        assert run.has("ok: the audit trail verifies (2 events)")


# --- secrets ----------------------------------------------------------------------------------


def test_a_missing_secret_is_reported_even_though_the_app_refuses_to_start(
    code: Path, production: dict[str, str]
) -> None:
    del production["AUDIT_KEY"]
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    assert run.has("problem: the reviewer app refuses to start: AUDIT_KEY is not set")
    assert run.has("problem: AUDIT_KEY is not set — set it to 32+ random characters")
    # Everything else is still checked in the same run; only the trail cannot be verified without its key.
    assert run.has("ok: intake key") and run.has("ok: gunicorn writes no access log")
    assert not run.has("ok: the audit trail")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_other_commands_of_a_refused_app_name_the_refusal_and_servers_do_not_start(
    code: Path, production: dict[str, str]
) -> None:
    del production["AUDIT_KEY"]
    command = [sys.executable, "-m", "flask", "--app", "wsgi:reviewer"]
    looked_up = subprocess.run(
        [*command, "db", "upgrade"], cwd=code, env=production, capture_output=True, text=True, check=False
    )
    assert looked_up.returncode == 1
    assert looked_up.stderr.startswith("Error: the reviewer app refuses to start: AUDIT_KEY is not set")
    assert "Run `flask --app wsgi:reviewer doctor` to see everything that needs fixing." in looked_up.stderr
    # Commands that build the app to serve it still stop with the refusal itself.
    served = subprocess.run([*command, "routes"], cwd=code, env=production, capture_output=True, text=True, check=False)
    assert served.returncode != 0 and "ConfigurationError: AUDIT_KEY is not set" in served.stderr


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_short_secret(code: Path, production: dict[str, str]) -> None:
    production["RECEIPT_PEPPER"] = secrets.token_hex(10)
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.has("problem: RECEIPT_PEPPER is shorter than 32 characters — replace it with 32+ random characters")
    assert run.has("problem: the citizen app refuses to start: RECEIPT_PEPPER must be at least 32 characters long")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("kind", ["citizen", "reviewer"])
def test_a_secret_copied_from_the_test_suite_is_a_published_value(
    code: Path, production: dict[str, str], env: dict[str, str], kind: str
) -> None:
    name = "CITIZEN_SECRET_KEY" if kind == "citizen" else "AUDIT_KEY"
    production[name] = env[name]  # the value written in tests/conftest.py
    run = doctor(code, kind, production)
    assert run.status == 1
    assert run.has(f"problem: {name} is a value published in the portal's code")
    assert env[name] not in "\n".join(run.lines)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_one_secret_used_for_two_purposes(code: Path, production: dict[str, str]) -> None:
    production["AUDIT_KEY"] = production["REVIEWER_SECRET_KEY"]
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    assert run.has("problem: REVIEWER_SECRET_KEY and AUDIT_KEY hold the same value")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_recovery_passphrase_in_the_service_environment(code: Path, production: dict[str, str]) -> None:
    production["INTAKE_RECOVERY_PASSPHRASE"] = generate_recovery_passphrase()
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    assert run.has("problem: INTAKE_RECOVERY_PASSPHRASE is in the service's environment")
    assert production["INTAKE_RECOVERY_PASSPHRASE"] not in "\n".join(run.lines)


# --- modes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_not_production(code: Path, production: dict[str, str]) -> None:
    production["PORTAL_ENV"] = "development"
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.has("problem: PORTAL_ENV is 'development', not production")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["FLASK_DEBUG", "--debug"])
def test_debug_on(code: Path, production: dict[str, str], how: str) -> None:
    if how == "FLASK_DEBUG":
        production["FLASK_DEBUG"] = "1"
        run = doctor(code, "reviewer", production)
    else:
        command = [sys.executable, "-m", "flask", "--app", "wsgi:reviewer", "--debug", "doctor"]
        done = subprocess.run(command, cwd=code, env=production, capture_output=True, text=True, check=False)
        run = Run(done.returncode, done.stdout.splitlines())
    assert run.status == 1
    assert run.has("problem: debug mode is on (FLASK_DEBUG)")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cheap_kdf_cost_is_a_warning(code: Path, production: dict[str, str]) -> None:
    production["KDF_COST"] = "interactive"
    run = doctor(code, "reviewer", production)
    assert run.status == 0
    assert run.warnings() == [
        (
            "warning: KDF_COST is interactive: the wrapped copies of the intake key are cheaper to guess — use moderate "
            "(the default) unless logins are too slow on this server"
        )
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cookies_over_plain_http(code: Path, production: dict[str, str]) -> None:
    production["COOKIE_SECURE"] = "false"
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.has("problem: COOKIE_SECURE is false: session and form cookies would travel over plain HTTP")


# --- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_world_readable_sqlite_database(code: Path, production: dict[str, str], tmp_path: Path) -> None:
    database = tmp_path / "portal.db"
    database.chmod(0o644)
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.problems() == [
        f"problem: {database} is readable by every user (mode 0644) — chmod 600 {database}",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_default_database_in_an_open_instance_folder(code: Path, production: dict[str, str]) -> None:
    """The default SQLite location, instance/portal.db, with its write-ahead log, under a folder others may list."""
    instance = code / "instance"
    instance.mkdir()
    del production["DATABASE_URL"]
    upgrade(f"sqlite:///{instance / 'portal.db'}")
    record_intake_key(f"sqlite:///{instance / 'portal.db'}", generate_keypair())
    (instance / "portal.db-wal").write_bytes(b"")
    (instance / "portal.db").chmod(0o600)
    (instance / "portal.db-wal").chmod(0o664)
    instance.chmod(0o755)
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    assert run.problems() == [
        f"problem: {instance} is readable by every user (mode 0755) — chmod 700 {instance}",
        (
            f"problem: {instance}/portal.db-wal is readable by every user and writable by its group (mode 0664) — "
            f"chmod 600 {instance}/portal.db-wal"
        ),
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_environment_file_is_checked_and_read(code: Path, production: dict[str, str], tmp_path: Path) -> None:
    """The secrets only in the file, as systemd hands them to the service: the doctor reads them from it."""
    env_file = tmp_path / "citizen.env"
    names = ("CITIZEN_SECRET_KEY", "RECEIPT_PEPPER", "INTAKE_PUBLIC_KEY", "PORTAL_ENV")
    env_file.write_text("# the citizen portal\n" + "".join(f'{name}="{production.pop(name)}"\n' for name in names))
    env_file.chmod(0o644)
    run = doctor(code, "citizen", production, "--env-file", str(env_file))
    assert run.problems() == [f"problem: {env_file} is readable by every user (mode 0644) — chmod 640 {env_file}"]
    env_file.chmod(0o640)
    run = doctor(code, "citizen", production, "--env-file", str(env_file))
    assert run.status == 0, run.lines
    assert run.has(f"ok: {env_file} is readable only by its owner and group")
    assert run.has("ok: CITIZEN_SECRET_KEY is set, long enough and not a published value")
    missing = tmp_path / "citizen.env.typo"
    run = doctor(code, "citizen", production, "--env-file", str(missing))
    assert run.has(f"problem: cannot read the environment file {missing}: No such file or directory")


# --- gunicorn ---------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_access_log_in_the_gunicorn_config(code: Path, production: dict[str, str], tmp_path: Path) -> None:
    config = write_gunicorn_config(tmp_path, "citizen", "accesslog = '-'")
    run = doctor(code, "citizen", production, "--gunicorn-config", str(config))
    assert run.status == 1
    assert run.problems() == [
        (
            "problem: gunicorn writes an access log (-): every request's address and time — set accesslog = None in the "
            "gunicorn config and keep --access-logfile out of GUNICORN_CMD_ARGS"
        )
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_access_log_from_gunicorn_cmd_args_and_one_sent_to_syslog(code: Path, production: dict[str, str]) -> None:
    run = doctor(code, "reviewer", {**production, "GUNICORN_CMD_ARGS": "--access-logfile /var/log/portal.log"})
    assert run.status == 1
    assert run.has("problem: gunicorn writes an access log (/var/log/portal.log)")
    run = doctor(code, "reviewer", {**production, "GUNICORN_CMD_ARGS": "--log-syslog"})
    assert run.status == 1
    assert run.has("problem: gunicorn sends its access log to syslog")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_control_socket_left_on_is_a_warning(code: Path, production: dict[str, str], tmp_path: Path) -> None:
    config = write_gunicorn_config(tmp_path, "reviewer", "control_socket_disable = False")
    run = doctor(code, "reviewer", production, "--gunicorn-config", str(config))
    assert run.status == 0
    assert run.warnings() == [
        (
            "warning: gunicorn opens its control socket: a process running as the service's user can manage its workers "
            "— set control_socket_disable = True in the gunicorn config"
        )
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("bind", ["0.0.0.0:8080", "[::]:8080", "portal.example.org:80"])
def test_a_bind_the_network_can_reach(code: Path, production: dict[str, str], bind: str) -> None:
    production["CITIZEN_BIND"] = bind
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.problems() == [
        (
            f"problem: gunicorn listens on {bind}: plain HTTP reachable from the network, without Tor, TLS or the proxy "
            "— set CITIZEN_BIND=unix:/run/portal-citizen/gunicorn.sock and serve it through the proxy"
        )
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_loopback_binds_are_fine(code: Path, production: dict[str, str]) -> None:
    production["REVIEWER_BIND"] = "127.0.0.1:8081"
    run = doctor(code, "reviewer", production)
    assert run.status == 0
    assert run.has("ok: gunicorn listens only locally (127.0.0.1:8081)")


# --- rate limits ------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_memory_rate_limits_with_several_workers(code: Path, production: dict[str, str]) -> None:
    production["CITIZEN_WORKERS"] = "4"
    run = doctor(code, "citizen", production)
    assert run.status == 0
    assert run.warnings() == [
        (
            "warning: rate limits are counted in memory by each of the 4 gunicorn workers: the limits are 4 times looser "
            "than configured — set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0"
        )
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rate_limit_storage_that_does_not_answer(code: Path, production: dict[str, str]) -> None:
    port = free_port()
    production.update(CITIZEN_WORKERS="4", RATELIMIT_STORAGE_URI=f"redis://:s3cret-password@127.0.0.1:{port}/0")
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.problems() == [
        (
            f"problem: the rate-limit storage redis://127.0.0.1:{port}/0 does not answer: every rate-limited request "
            "would fail — start it, or correct RATELIMIT_STORAGE_URI"
        )
    ]
    assert "s3cret-password" not in "\n".join(run.lines)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_shared_rate_limits_in_redis(code: Path, production: dict[str, str]) -> None:
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("Redis not configured: set TEST_REDIS_URL to test shared rate limits")
    production.update(CITIZEN_WORKERS="4", RATELIMIT_STORAGE_URI=redis_url)
    run = doctor(code, "citizen", production)
    assert run.status == 0 and run.warnings() == [], run.lines
    assert run.has(f"ok: rate limits are counted in {redis_url}")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_rate_limits_turned_off(code: Path, production: dict[str, str]) -> None:
    production["RATELIMIT_ENABLED"] = "false"
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.has("problem: rate limits are off (RATELIMIT_ENABLED)")


# --- the database -----------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_that_does_not_answer(code: Path, production: dict[str, str]) -> None:
    port = free_port()
    production["DATABASE_URL"] = f"postgresql+psycopg://portal:s3cret-password@127.0.0.1:{port}/portal"
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    [line] = [line for line in run.problems() if "does not answer" in line]
    assert line.startswith(f"problem: the database postgresql+psycopg://portal:***@127.0.0.1:{port}/portal does not ")
    assert "Connection refused" in line and "the audit trail were not checked" in line
    assert "s3cret-password" not in "\n".join(run.lines)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_database_url_that_is_not_one(code: Path, production: dict[str, str]) -> None:
    production["DATABASE_URL"] = "portal:s3cret-password@localhost/portal"
    run = doctor(code, "citizen", production)
    assert run.status == 1
    [line] = run.problems()
    assert line.startswith("problem: DATABASE_URL is not a usable database URL: ArgumentError (the schema")
    assert "s3cret-password" not in "\n".join(run.lines)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_schema_behind_the_code_and_no_schema_at_all(code: Path, production: dict[str, str], tmp_path: Path) -> None:
    behind = tmp_path / "behind.db"
    upgrade(f"sqlite:///{behind}", revisions()[-2])
    behind.chmod(0o600)
    run = doctor(code, "citizen", {**production, "DATABASE_URL": f"sqlite:///{behind}"})
    assert run.status == 1
    assert run.problems() == [
        (
            f"problem: the schema is at migration {revisions()[-2]}, this code needs {revisions()[-1]} — run "
            "`flask --app wsgi:reviewer db upgrade` as the database's owner"
        )
    ]
    empty = tmp_path / "empty.db"
    empty.touch(mode=0o600)
    run = doctor(code, "citizen", {**production, "DATABASE_URL": f"sqlite:///{empty}"})
    assert run.problems() == [
        (
            "problem: the database has no schema (never migrated) — run `flask --app wsgi:reviewer db upgrade` as the "
            "database's owner"
        )
    ]


def test_the_citizen_portal_sealing_to_a_retired_or_unknown_key(
    code: Path, production: dict[str, str], database_url: str, intake_keys: KeyPair
) -> None:
    """After a rotation the new key is active and the old one retired: a citizen portal still configured with
    the old one seals every new report to a key being phased out."""
    change(database_url, update(IntakeKey).values(active=False))
    record_intake_key(database_url, generate_keypair())
    run = doctor(code, "citizen", production)
    assert run.status == 1
    assert run.problems() == [
        (
            f"problem: INTAKE_PUBLIC_KEY is the retired intake key {key_id(intake_keys.public)}: reports are sealed to it "
            "— configure the active key's public key (`flask --app wsgi:reviewer keys list`) and restart the app"
        )
    ]
    stranger = generate_keypair()
    run = doctor(code, "citizen", {**production, "INTAKE_PUBLIC_KEY": public_key_b64(stranger.public)})
    assert run.has(
        f"problem: INTAKE_PUBLIC_KEY (key {key_id(stranger.public)}) is not an intake key of this database: "
        "no inspector could open what is sealed to it"
    )


def test_the_reviewer_without_an_intake_key(code: Path, production: dict[str, str], database_url: str) -> None:
    change(database_url, delete(IntakeKey))
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    assert run.problems() == [
        (
            "problem: there is no active intake key: the citizen portal has nothing to seal reports to — run "
            "`flask --app wsgi:reviewer keys init`"
        )
    ]


def test_an_edited_audit_event(code: Path, production: dict[str, str], database_url: str) -> None:
    change(database_url, update(AuditEvent).where(AuditEvent.id == 1).values(actor="someone-else"))
    run = doctor(code, "reviewer", production)
    assert run.status == 1
    assert run.problems() == [
        (
            "problem: the audit trail does not verify: event 1: hash does not match its content (edited?) — run "
            "`flask --app wsgi:reviewer audit verify` to see every problem, and investigate"
        )
    ]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_least_privilege_role_that_may_not_read_the_schema_revision(
    code: Path, production: dict[str, str], database_url: str, intake_keys: KeyPair
) -> None:
    """The citizen's own role, with only what it needs: what it may not read is a warning, not a broken database,
    and the intake key (which it may read) is still checked."""
    role = f"doctor_{uuid.uuid4().hex[:12]}"
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
        connection.execute(text(f"CREATE ROLE {role} LOGIN"))
        connection.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
        connection.execute(text(f"GRANT SELECT (id, public_key, active) ON {schema}.intake_keys TO {role}"))
    try:
        as_role = make_url(database_url).set(username=role).render_as_string(hide_password=False)
        run = doctor(code, "citizen", {**production, "DATABASE_URL": as_role})
        assert run.status == 0, run.lines
        assert run.warnings() == [
            (
                "warning: the schema's revision was not checked: this database role may not read it — run the doctor "
                "once as the database's owner to check it"
            )
        ]
        assert run.has(f"ok: INTAKE_PUBLIC_KEY is the active intake key {key_id(intake_keys.public)}")
    finally:
        with owner.connect() as connection:
            connection.execute(text(f"DROP OWNED BY {role}"))
            connection.execute(text(f"DROP ROLE {role}"))
        owner.dispose()
