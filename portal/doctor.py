"""Self-check of one app's deployment: what `flask --app wsgi:<kind> doctor` reports.

The checks read the deployment itself (the environment the service gets, its gunicorn settings, the
files on disk, the database), not the built app: in production the app refuses to start without its
secrets, and that refusal must be reported together with everything else that is wrong, in one run.
Each check is a small function returning findings; none prints, and no finding ever holds a secret's
value or any part of it (names, key ids and file modes only).
"""

from __future__ import annotations

import ipaddress
import os
import runpy
import shlex
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import combinations
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

from gunicorn.config import Config as GunicornConfig
from gunicorn.util import parse_address
from limits.storage import storage_from_string
from sqlalchemy import Connection, create_engine, make_url, select, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from crypto.keys import key_id, parse_public_key_b64
from portal import audit
from portal.migrate import current_revision, revisions
from portal.models import IntakeKey
from portal.settings import (
    MIN_SECRET_LENGTH,
    AppKind,
    ConfigurationError,
    _flag,
    default_database_url,
    load_settings,
)

SECRETS: Mapping[AppKind, tuple[str, ...]] = {
    "citizen": ("CITIZEN_SECRET_KEY", "RECEIPT_PEPPER"),
    "reviewer": ("REVIEWER_SECRET_KEY", "AUDIT_KEY"),
}
ALL_SECRETS = (*SECRETS["citizen"], *SECRETS["reviewer"])
# What replacing each secret costs, so that the advice to replace one is never given blindly.
REPLACING = {
    "CITIZEN_SECRET_KEY": "replacing it only expires the forms open at that moment",
    "RECEIPT_PEPPER": "replacing it makes every receipt already given to a reporter unusable",
    "REVIEWER_SECRET_KEY": "replacing it ends every login and means re-enrolling every authenticator",
    "AUDIT_KEY": "replacing it means the trail recorded so far no longer verifies",
}
NEW_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
RECOVERY_PASSPHRASE = "INTAKE_RECOVERY_PASSPHRASE"
# Folders of the code tree that are not the code: published values are searched everywhere else.
NOT_PUBLISHED = frozenset({".git", ".venv", "node_modules", "instance", "__pycache__", ".pytest_cache", ".hypothesis"})
DB_CONNECT_TIMEOUT_SECONDS = 10
INSUFFICIENT_PRIVILEGE = "42501"  # PostgreSQL's SQLSTATE for "permission denied"


class Level(StrEnum):
    PROBLEM = "problem"
    WARNING = "warning"
    OK = "ok"


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str
    advice: str = ""

    def line(self) -> str:
        return f"{self.level}: {self.text}" + (f" — {self.advice}" if self.advice else "")


def problem(text: str, advice: str) -> Finding:
    return Finding(Level.PROBLEM, text, advice)


def warning(text: str, advice: str) -> Finding:
    return Finding(Level.WARNING, text, advice)


def ok(text: str) -> Finding:
    return Finding(Level.OK, text)


@dataclass(frozen=True)
class Deployment:
    """What the doctor looks at: one app, the environment its service gets and the files around it."""

    kind: AppKind
    env: Mapping[str, str]
    project_root: Path
    instance_dir: Path
    gunicorn_config: Path
    env_file: Path | None = None
    app_debug: bool = False

    def value(self, name: str) -> str:
        return self.env.get(name, "").strip()

    @property
    def production(self) -> bool:
        return (self.env.get("PORTAL_ENV") or "production") == "production"

    @property
    def database_url(self) -> str:
        return self.env.get("DATABASE_URL") or default_database_url()

    @property
    def sqlite_path(self) -> Path | None:
        try:
            url = make_url(self.database_url)
        except ArgumentError:
            return None  # reported by the database check
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database).absolute()


def examine(deployment: Deployment) -> list[Finding]:
    """Every check, in the order an operator would fix things."""
    findings: list[Finding] = []
    for check in (
        check_settings,
        check_environment_name,
        check_secrets,
        check_secret_reuse,
        check_recovery_passphrase,
        check_debug,
        check_kdf_cost,
        check_cookies,
        check_service,
        check_files,
        check_database,
    ):
        findings += check(deployment)
    return findings


# --- settings and secrets -----------------------------------------------------------------------


def check_settings(deployment: Deployment) -> list[Finding]:
    try:
        load_settings(deployment.kind, deployment.env)
    except ConfigurationError as error:
        return [
            problem(
                f"the {deployment.kind} app refuses to start: {error}", "fix it: until then the service does not start"
            )
        ]
    return [ok(f"the {deployment.kind} app accepts its settings")]


def check_environment_name(deployment: Deployment) -> list[Finding]:
    if deployment.production:
        return [ok("PORTAL_ENV is production")]
    return [
        problem(
            f"PORTAL_ENV is {deployment.env.get('PORTAL_ENV')!r}, not production: missing secrets are replaced by "
            "throwaway ones instead of stopping the app",
            "set PORTAL_ENV=production",
        )
    ]


def check_secrets(deployment: Deployment) -> list[Finding]:
    names = SECRETS[deployment.kind]
    candidates = {name: deployment.value(name) for name in names if len(deployment.value(name)) >= MIN_SECRET_LENGTH}
    published = published_names(deployment.project_root, candidates, skip=deployment.env_file)
    findings = []
    for name in names:
        value = deployment.value(name)
        if not value:
            findings.append(
                problem(f"{name} is not set", f"set it to {MIN_SECRET_LENGTH}+ random characters ({NEW_SECRET})")
            )
        elif len(value) < MIN_SECRET_LENGTH:
            findings.append(
                problem(
                    f"{name} is shorter than {MIN_SECRET_LENGTH} characters",
                    f"replace it with {MIN_SECRET_LENGTH}+ random characters ({NEW_SECRET}); {REPLACING[name]}",
                )
            )
        elif name in published:
            findings.append(
                problem(
                    f"{name} is a value published in the portal's code (an example or a test value): anyone can "
                    "read it",
                    f"replace it with {MIN_SECRET_LENGTH}+ random characters ({NEW_SECRET}); {REPLACING[name]}",
                )
            )
        else:
            findings.append(ok(f"{name} is set, long enough and not a published value"))
    return findings


def published_names(root: Path, values: Mapping[str, str], skip: Path | None = None) -> set[str]:
    """The names whose value occurs in a file of the code tree (examples, tests, demo data, docs)."""
    wanted = {name: value.encode() for name, value in values.items() if value}
    found: set[str] = set()
    if not wanted:
        return found
    for path in _code_files(root, skip):
        try:
            content = path.read_bytes()
        except OSError:
            continue
        found |= {name for name, value in wanted.items() if value in content}
    return found


def _code_files(root: Path, skip: Path | None) -> Iterator[Path]:
    skipped = skip.resolve() if skip is not None else None
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if name not in NOT_PUBLISHED]
        for name in files:
            path = Path(folder, name)
            if path.resolve() != skipped and os.path.isfile(path):
                yield path


def check_secret_reuse(deployment: Deployment) -> list[Finding]:
    present = {name: deployment.value(name) for name in ALL_SECRETS if deployment.value(name)}
    findings = [
        problem(
            f"{first} and {second} hold the same value: one leak would give away both",
            f"give each its own {MIN_SECRET_LENGTH}+ random characters ({NEW_SECRET})",
        )
        for first, second in combinations(present, 2)
        if present[first] == present[second]
    ]
    return findings or [ok("no secret is used for two purposes")]


def check_recovery_passphrase(deployment: Deployment) -> list[Finding]:
    if not deployment.value(RECOVERY_PASSPHRASE):
        return []
    return [
        problem(
            f"{RECOVERY_PASSPHRASE} is in the service's environment: whoever reads it opens every report",
            "remove it; the recovery passphrase belongs on paper, offline, typed only when a command asks for it",
        )
    ]


def check_debug(deployment: Deployment) -> list[Finding]:
    if deployment.app_debug or _flag(deployment.env.get("FLASK_DEBUG"), default=False):
        return [
            problem(
                "debug mode is on (FLASK_DEBUG): errors would show code and data instead of the error page",
                "unset FLASK_DEBUG and never serve with `flask run --debug`",
            )
        ]
    return [ok("debug mode is off")]


def check_kdf_cost(deployment: Deployment) -> list[Finding]:
    if deployment.kind != "reviewer":
        return []
    cost = deployment.env.get("KDF_COST") or "moderate"
    if cost == "interactive":
        return [
            warning(
                "KDF_COST is interactive: the wrapped copies of the intake key are cheaper to guess",
                "use moderate (the default) unless logins are too slow on this server",
            )
        ]
    if cost == "moderate":
        return [ok("KDF_COST is moderate")]
    return []  # any other value is refused by the settings, reported above


def check_cookies(deployment: Deployment) -> list[Finding]:
    if _flag(deployment.env.get("COOKIE_SECURE"), default=True):
        return [ok("cookies are sent only over Tor or TLS (COOKIE_SECURE)")]
    return [
        problem(
            "COOKIE_SECURE is false: session and form cookies would travel over plain HTTP",
            "serve the app only through Tor or TLS and set COOKIE_SECURE=true",
        )
    ]


# --- the gunicorn service -----------------------------------------------------------------------


@dataclass(frozen=True)
class Service:
    """The gunicorn settings the app's service runs with, read as gunicorn reads them."""

    binds: tuple[str, ...]
    workers: int
    access_log: str | None
    access_to_syslog: bool
    logging_config: bool
    control_socket: bool


def read_service(config_file: Path, command_line_args: str) -> Service:
    """The config file, then GUNICORN_CMD_ARGS over it, through gunicorn's own settings and validators.

    Raises ValueError when gunicorn could not read them either. The config file is Python and reads
    the process environment itself (e.g. CITIZEN_BIND), as it does when gunicorn starts.
    """
    settings = GunicornConfig()
    try:
        for name, value in runpy.run_path(str(config_file)).items():
            if name in settings.settings:
                settings.set(name.lower(), value)
    except Exception as error:  # noqa: BLE001 - whatever stops gunicorn from reading it is the finding
        raise ValueError(f"gunicorn cannot read {config_file}: {error}") from None
    parser = settings.parser()
    parser.error = _refuse_arguments  # type: ignore[method-assign]  # argparse would exit the process
    try:
        arguments = parser.parse_args(shlex.split(command_line_args))
        for name, value in vars(arguments).items():
            if value is not None and name != "args":
                settings.set(name.lower(), value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"gunicorn cannot read GUNICORN_CMD_ARGS: {error}") from None
    return Service(
        binds=tuple(settings.bind),
        workers=settings.workers,
        access_log=settings.accesslog,
        access_to_syslog=settings.syslog and not settings.disable_redirect_access_to_syslog,
        logging_config=bool(settings.logconfig or settings.logconfig_dict or settings.logconfig_json),
        control_socket=not settings.control_socket_disable,
    )


def _refuse_arguments(message: str) -> NoReturn:
    raise ValueError(message)


def check_service(deployment: Deployment) -> list[Finding]:
    try:
        service = read_service(deployment.gunicorn_config, deployment.env.get("GUNICORN_CMD_ARGS", ""))
    except ValueError as error:
        return [problem(str(error), "fix the gunicorn config file or GUNICORN_CMD_ARGS")]
    return [
        *_access_log(service),
        *_control_socket(service),
        *_binds(deployment, service),
        *_rate_limits(deployment, service),
    ]


def _access_log(service: Service) -> list[Finding]:
    remove = "set accesslog = None in the gunicorn config and keep --access-logfile out of GUNICORN_CMD_ARGS"
    if service.access_log:
        return [
            problem(f"gunicorn writes an access log ({service.access_log}): every request's address and time", remove)
        ]
    if service.access_to_syslog:
        return [
            problem(
                "gunicorn sends its access log to syslog: every request's address and time",
                "set disable_redirect_access_to_syslog = True, or syslog = False",
            )
        ]
    if service.logging_config:
        return [
            warning(
                "gunicorn's logging is set by a logging config, which may write an access log",
                "make sure it has no handler for the gunicorn.access logger",
            )
        ]
    return [ok("gunicorn writes no access log")]


def _control_socket(service: Service) -> list[Finding]:
    if service.control_socket:
        return [
            warning(
                "gunicorn opens its control socket: a process running as the service's user can manage its workers",
                "set control_socket_disable = True in the gunicorn config",
            )
        ]
    return [ok("gunicorn's control socket is off")]


def _binds(deployment: Deployment, service: Service) -> list[Finding]:
    exposed = [bind for bind in service.binds if not _private_bind(bind)]
    if not exposed:
        return [ok(f"gunicorn listens only locally ({', '.join(service.binds)})")]
    variable = f"{deployment.kind.upper()}_BIND"
    return [
        problem(
            f"gunicorn listens on {bind}: plain HTTP reachable from the network, without Tor, TLS or the proxy",
            f"set {variable}=unix:/run/portal-{deployment.kind}/gunicorn.sock and serve it through the proxy",
        )
        for bind in exposed
    ]


def _private_bind(bind: str) -> bool:
    """A unix socket, a socket handed over by systemd, or a loopback address."""
    try:
        address = parse_address(bind)
    except RuntimeError:
        return False
    if not isinstance(address, tuple):
        return True
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it resolves to an interface others may reach


def _rate_limits(deployment: Deployment, service: Service) -> list[Finding]:
    if not _flag(deployment.env.get("RATELIMIT_ENABLED"), default=True):
        return [
            problem(
                "rate limits are off (RATELIMIT_ENABLED): receipt guessing and floods meet no limit",
                "remove RATELIMIT_ENABLED",
            )
        ]
    uri = deployment.env.get("RATELIMIT_STORAGE_URI") or "memory://"
    if uri.startswith("memory://"):
        if service.workers > 1:
            return [
                warning(
                    f"rate limits are counted in memory by each of the {service.workers} gunicorn workers: "
                    f"the limits are {service.workers} times looser than configured",
                    "set RATELIMIT_STORAGE_URI=redis://127.0.0.1:6379/0",
                )
            ]
        return [ok("rate limits are counted in memory by the only worker")]
    shown = _without_password(uri)
    try:
        answers = storage_from_string(uri).check()
    except Exception:  # noqa: BLE001 - an unusable storage URI is the finding
        answers = False
    if not answers:
        return [
            problem(
                f"the rate-limit storage {shown} does not answer: every rate-limited request would fail",
                "start it, or correct RATELIMIT_STORAGE_URI",
            )
        ]
    return [ok(f"rate limits are counted in {shown}")]


def _without_password(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))


# --- files --------------------------------------------------------------------------------------


def check_files(deployment: Deployment) -> list[Finding]:
    """No other user may read the database or the secrets, and only the owner may change them."""
    paths: list[Path] = []
    if os.path.isdir(deployment.instance_dir):
        paths += [deployment.instance_dir, *_below(deployment.instance_dir)]
    database = deployment.sqlite_path
    if database is not None:
        paths += [database.parent, *(Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm"))]
    findings = [finding for path in dict.fromkeys(paths) if (finding := _exposed(path)) is not None]
    if deployment.env_file is not None:
        findings += _env_file(deployment.env_file)
    return findings or [ok("the instance and database files are private to the service")]


def _below(folder: Path) -> Iterator[Path]:
    for parent, subfolders, files in os.walk(folder):
        yield from (Path(parent, name) for name in (*subfolders, *files))


def _exposed(path: Path, private: str = "600") -> Finding | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        return warning(
            f"{path} could not be checked: {error.strerror}", "run the doctor as root or as the service's user"
        )
    exposure = _exposure(mode)
    if not exposure:
        return None
    fix = f"chmod 700 {path}" if stat.S_ISDIR(mode) else f"chmod {private} {path}"
    return problem(f"{path} is {exposure} (mode {stat.S_IMODE(mode):04o})", fix)


def _exposure(mode: int) -> str:
    ways = []
    if mode & stat.S_IROTH:
        ways.append("readable by every user")
    if mode & stat.S_IWOTH:
        ways.append("writable by every user")
    elif mode & stat.S_IWGRP:
        ways.append("writable by its group")
    return " and ".join(ways)


def _env_file(path: Path) -> list[Finding]:
    finding = _exposed(path, private="640")
    if finding is not None:
        return [finding]
    if not os.path.isfile(path):
        return []  # `read_env_file` says why it cannot be read
    return [ok(f"{path} is readable only by its owner and group")]


def read_env_file(path: Path) -> tuple[dict[str, str], list[Finding]]:
    """The values of a service's environment file, or the problem that keeps them from being read."""
    try:
        return parse_env_file(path.read_text()), []
    except OSError as error:
        advice = "give the path the service's unit uses, and run the doctor as root or as the service's user"
        return {}, [problem(f"cannot read the environment file {path}: {error.strerror}", advice)]


def parse_env_file(content: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them: # and ; start comments, quotes are removed."""
    values: dict[str, str] = {}
    for line in content.splitlines():
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        name, value = (part.strip() for part in line.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[name] = value
    return values


# --- the database -------------------------------------------------------------------------------


def check_database(deployment: Deployment) -> list[Finding]:
    """Reachable, at the latest migration, and holding what this app needs: its intake key, a sound trail."""
    not_checked = "the schema, the intake key and the audit trail were not checked"
    try:
        url = make_url(deployment.database_url)
        engine = create_engine(url, poolclass=NullPool, hide_parameters=True, connect_args=_timeout(url))
    except ArgumentError as error:  # the URL itself is not printed: it may hold a password
        return [problem(f"DATABASE_URL is not a usable database URL: {type(error).__name__} ({not_checked})", _URL)]
    shown = url.render_as_string(hide_password=True)
    database = deployment.sqlite_path
    try:
        if database is not None and _missing(database):  # connecting would create an empty one
            return [
                problem(
                    f"the SQLite database {database} does not exist ({not_checked})",
                    f"run `flask --app wsgi:reviewer db upgrade`, or {_URL}",
                )
            ]
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            reason = f"{_reason(error)} ({not_checked})"
            return [problem(f"the database {shown} does not answer: {reason}", f"start it, or {_URL}")]
        findings = [ok(f"the database {shown} answers")]
        schema = _query(engine, "the schema's revision", _schema)
        findings += schema
        if not any(finding.level is Level.PROBLEM for finding in schema):
            kind_checks = _CITIZEN_DATA if deployment.kind == "citizen" else _REVIEWER_DATA
            for what, check in kind_checks:
                findings += _query(engine, what, lambda connection, check=check: check(deployment, connection))
        return findings
    finally:
        engine.dispose()


def _missing(path: Path) -> bool:
    try:
        path.stat()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # there, but hidden from this user: connecting says more
    return False


_URL = "correct DATABASE_URL (e.g. postgresql+psycopg://portal_citizen@/portal?host=/run/postgresql)"


def _timeout(url: URL) -> dict[str, int]:
    return {"connect_timeout": DB_CONNECT_TIMEOUT_SECONDS} if url.get_backend_name() == "postgresql" else {}


def _query(engine: Engine, what: str, check: Callable[[Connection], list[Finding]]) -> list[Finding]:
    """One check on its own connection, so that a refused query stops only that check.

    The apps' least-privilege roles may not read everything the doctor would look at: that is said,
    as a warning, rather than taken for a broken database.
    """
    try:
        with engine.connect() as connection:
            return check(connection)
    except SQLAlchemyError as error:
        if isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE:
            return [
                warning(
                    f"{what} was not checked: this database role may not read it",
                    "run the doctor once as the database's owner to check it",
                )
            ]
        return [problem(f"could not read {what}: {_reason(error)}", "check the database and its role's grants")]


def _reason(error: SQLAlchemyError) -> str:
    """The driver's own first line (statements and parameters stay out: they are hidden by the engine)."""
    if isinstance(error, DBAPIError) and error.orig is not None:
        lines = str(error.orig).strip().splitlines()
        return lines[0] if lines else type(error.orig).__name__
    return type(error).__name__


def _schema(connection: Connection) -> list[Finding]:
    upgrade = "run `flask --app wsgi:reviewer db upgrade` as the database's owner"
    known = revisions()
    current = current_revision(connection)
    if current is None:
        return [problem("the database has no schema (never migrated)", upgrade)]
    if current == known[-1]:
        return [ok(f"the schema is at the latest migration ({current})")]
    if current in known:
        return [problem(f"the schema is at migration {current}, this code needs {known[-1]}", upgrade)]
    return [
        problem(
            f"the schema is at migration {current}, which this code does not know (newer code migrated it)",
            "deploy the code that matches the database",
        )
    ]


def _citizen_intake_key(deployment: Deployment, connection: Connection) -> list[Finding]:
    try:
        configured = key_id(parse_public_key_b64(deployment.value("INTAKE_PUBLIC_KEY")))
    except ValueError:
        return []  # missing or malformed: the settings check reports it
    active = connection.execute(select(IntakeKey.active).where(IntakeKey.id == configured)).scalar_one_or_none()
    find_it = "configure the active key's public key (`flask --app wsgi:reviewer keys list`) and restart the app"
    if active is None:
        return [
            problem(
                f"INTAKE_PUBLIC_KEY (key {configured}) is not an intake key of this database: "
                "no inspector could open what is sealed to it",
                find_it,
            )
        ]
    if not active:
        return [problem(f"INTAKE_PUBLIC_KEY is the retired intake key {configured}: reports are sealed to it", find_it)]
    return [ok(f"INTAKE_PUBLIC_KEY is the active intake key {configured}")]


def _reviewer_intake_key(_deployment: Deployment, connection: Connection) -> list[Finding]:
    active = list(connection.execute(select(IntakeKey.id).where(IntakeKey.active).order_by(IntakeKey.id)).scalars())
    if not active:
        return [
            problem(
                "there is no active intake key: the citizen portal has nothing to seal reports to",
                "run `flask --app wsgi:reviewer keys init`",
            )
        ]
    return [ok(f"intake key {', '.join(active)} is active")]


def _audit_trail(deployment: Deployment, connection: Connection) -> list[Finding]:
    key = deployment.value("AUDIT_KEY")
    if len(key) < MIN_SECRET_LENGTH:
        return []  # reported with the secrets: without the key nothing can be verified
    with Session(connection) as session:
        check = audit.verify(session, key.encode())
    if not check.ok:
        return [
            problem(
                f"the audit trail does not verify: {check.problems[0]}",
                "run `flask --app wsgi:reviewer audit verify` to see every problem, and investigate",
            )
        ]
    return [ok(f"the audit trail verifies ({check.events} event{'s' * (check.events != 1)})")]


_CITIZEN_DATA: tuple[tuple[str, Callable[[Deployment, Connection], list[Finding]]], ...] = (
    ("the intake keys", _citizen_intake_key),
)
_REVIEWER_DATA: tuple[tuple[str, Callable[[Deployment, Connection], list[Finding]]], ...] = (
    ("the intake keys", _reviewer_intake_key),
    ("the audit trail", _audit_trail),
)


def summary(findings: Iterable[Finding]) -> str:
    levels = [finding.level for finding in findings]
    problems, warnings = levels.count(Level.PROBLEM), levels.count(Level.WARNING)
    return f"{problems} problem{'s' * (problems != 1)}, {warnings} warning{'s' * (warnings != 1)}"
