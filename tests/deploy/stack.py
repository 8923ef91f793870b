"""The deployment as shipped, in a temporary directory: each app under gunicorn with its config from
config/gunicorn/ on a unix socket, inside the seccomp filters of config/deploy/systemd/, behind nginx with
the server blocks of config/deploy/nginx/ on a main nginx.conf like Debian's; and clients that reach it
the way Tor does.

Only the absolute paths of the shipped files are moved into the temporary directory (`shipped` fails
when one of them is no longer there, so a test never runs on a recipe it did not read).
"""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers import GUNICORN, ROOT, free_port, stop

DEPLOY = ROOT / "config" / "deploy"
HARDENING = DEPLOY / "systemd" / "portal-.service.d" / "hardening.conf"
SANDBOX = Path(__file__).with_name("seccomp_sandbox.py")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The ports and the gunicorn sockets the shipped files name; Tor's torrc points at the same ports.
CITIZEN_LISTEN = "127.0.0.1:8180"
REVIEWER_LISTEN = "127.0.0.1:8181"
NGINX_TEMP_DIRECTORIES = ("client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp")


def tool(name: str) -> str | None:
    """A Debian tool, found in the sbin directories too (they are not on a normal user's PATH)."""
    return shutil.which(name, path=SBIN_PATH)


def shipped(path: Path, moves: Mapping[str, str]) -> str:
    """The text of a shipped file with its absolute paths moved; each must be in the file."""
    text = path.read_text()
    for old, new in moves.items():
        assert old in text, f"{path.relative_to(ROOT)} no longer names {old}: update the test with the recipe"
        text = text.replace(old, new)
    return text


# --- gunicorn ---------------------------------------------------------------------------------------------------


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a unix socket, as nginx (or a local monitoring probe) talks to gunicorn."""

    def __init__(self, path: Path, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(str(self.path))


def get_over_socket(path: Path, target: str) -> tuple[int, bytes]:
    connection = UnixConnection(path)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Gunicorn:
    socket: Path
    log: Path
    home: Path  # HOME and XDG_RUNTIME_DIR of the process: where gunicorn would put a control socket
    process: subprocess.Popen[bytes]


@contextmanager
def gunicorn(app: str, env: Mapping[str, str], directory: Path, *, sandboxed: bool = True) -> Iterator[Gunicorn]:
    """`wsgi:<app>` served by gunicorn from config/gunicorn/<app>.py on a unix socket, as the systemd unit
    starts it (inside the unit's seccomp filters unless told otherwise); always stopped afterwards."""
    directory.mkdir(parents=True, exist_ok=True)
    home = directory / f"{app}-home"
    home.mkdir()
    sock = directory / f"{app}.sock"
    command = [
        str(GUNICORN), "--config", str(ROOT / "config" / "gunicorn" / f"{app}.py"), "--workers", "2", f"wsgi:{app}",
    ]  # fmt: skip
    if sandboxed:
        command = [sys.executable, str(SANDBOX), str(HARDENING), *command]
    process_env = {
        **os.environ,
        **env,
        f"{app.upper()}_BIND": f"unix:{sock}",
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home),
    }
    log = directory / f"{app}.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=process_env, stdout=output, stderr=output)
    try:
        _wait_for_socket(sock, process, log)
        yield Gunicorn(sock, log, home, process)
    finally:
        stop(process)


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            if get_over_socket(path, "/static/css/portal.css")[0] == 200:
                return
        except OSError:  # not bound yet, or accepted by the master before a worker answers
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn did not answer on {path} in time:\n{log.read_text()}")


# --- nginx ------------------------------------------------------------------------------------------------------


@dataclass
class Nginx:
    prefix: Path
    citizen_port: int
    reviewer_port: int
    master_pid: int | None = None  # set while it runs

    @property
    def logs(self) -> Path:
        return self.prefix / "logs"

    def temp_files(self) -> list[str]:
        """Every file in nginx's temporary directories, where a buffered body or answer would be written: those
        in the directories, and those its processes hold open. nginx unlinks a temporary file as soon as it
        creates it, so while a request runs its file shows only among the processes' open descriptors."""
        directories = [str(self.prefix / name) + "/" for name in NGINX_TEMP_DIRECTORIES]
        found = [
            str(path) for name in NGINX_TEMP_DIRECTORIES for path in (self.prefix / name).rglob("*") if path.is_file()
        ]
        for pid in self._processes():
            try:
                descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:  # a worker that just exited
                continue
            for descriptor in descriptors:
                try:
                    target = os.readlink(descriptor)
                except OSError:
                    continue
                if target.startswith(tuple(directories)):
                    found.append(target)
        return found

    def _processes(self) -> list[int]:
        assert self.master_pid is not None, "nginx is not running"
        children = Path(f"/proc/{self.master_pid}/task/{self.master_pid}/children").read_text().split()
        return [self.master_pid, *map(int, children)]


def main_config(prefix: Path) -> str:
    """nginx.conf as Debian ships it, in the prefix: an access log and gzip on for the whole http block, which
    the portal's server blocks must turn off for themselves."""
    temp_paths = "".join(f"    {name}_path {prefix / name};\n" for name in NGINX_TEMP_DIRECTORIES)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # to reach sockets in a private pytest directory
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'logs' / 'main-error.log'};\n"
        "events {\n    worker_connections 256;\n}\n"
        "http {\n    sendfile on;\n    tcp_nopush on;\n    types_hash_max_size 2048;\n"
        "    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log {prefix / 'logs' / 'access.log'};\n    gzip on;\n{temp_paths}"
        "    include sites-enabled/*;\n}\n"
    )


def nginx_prefix(prefix: Path, sockets: Mapping[str, Path]) -> Nginx:
    """The shipped server blocks and snippet installed in `prefix` as on Debian (sites-enabled, snippets),
    their paths moved there; the gunicorn sockets are those in `sockets` (app name → path)."""
    citizen_port, reviewer_port = free_port(), free_port()
    for name in ("sites-enabled", "snippets", "logs"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    error_log = {"/var/log/nginx/error.log": str(prefix / "logs" / "error.log")}
    (prefix / "snippets" / "portal-proxy.conf").write_text(
        shipped(DEPLOY / "nginx" / "snippets" / "portal-proxy.conf", {"/opt/portal/static/": f"{ROOT / 'static'}/"})
    )
    for app, listen, port in (("citizen", CITIZEN_LISTEN, citizen_port), ("reviewer", REVIEWER_LISTEN, reviewer_port)):
        moves = {f"/run/portal-{app}/gunicorn.sock": str(sockets[app]), listen: f"127.0.0.1:{port}", **error_log}
        site = shipped(DEPLOY / "nginx" / "sites-available" / f"portal-{app}.conf", moves)
        (prefix / "sites-enabled" / f"portal-{app}.conf").write_text(site)
    (prefix / "nginx.conf").write_text(main_config(prefix))
    return Nginx(prefix, citizen_port, reviewer_port)


def nginx_command(prefix: Path, *arguments: str) -> list[str]:
    return [tool("nginx") or "nginx", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"), *arguments]


@contextmanager
def nginx(site: Nginx) -> Iterator[Nginx]:
    """nginx running in the foreground on `site`'s prefix until the block ends."""
    command = nginx_command(site.prefix, "-g", "daemon off;")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 15
        while not _listening(site.reviewer_port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {process.communicate(timeout=5)[1].decode()}")
            time.sleep(0.05)
        site.master_pid = process.pid
        yield site
    finally:
        site.master_pid = None
        stop(process)
        if process.stderr:
            process.stderr.close()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- clients ----------------------------------------------------------------------------------------------------


class OnionConnection(http.client.HTTPConnection):
    """A connection as Tor's onion service opens it to nginx: to loopback, and for the citizen service first a
    PROXY protocol line whose source address encodes the circuit (HiddenServiceExportCircuitID haproxy)."""

    def __init__(self, port: int, circuit: int | None, timeout: float = 120) -> None:
        super().__init__("127.0.0.1", port, timeout=timeout)
        self.circuit = circuit

    def connect(self) -> None:
        super().connect()
        if self.circuit is not None:
            high, low = self.circuit >> 16, self.circuit & 0xFFFF
            self.sock.sendall(f"PROXY TCP6 fc00:dead:beef:4dad::{high:x}:{low:x} ::1 {low} 80\r\n".encode())


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class Visitor:
    """One browser: its cookies, and (on the citizen onion) its Tor circuit."""

    port: int
    circuit: int | None = None
    cookies: dict[str, str] = field(default_factory=dict)

    def open(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> http.client.HTTPResponse:
        """Send a request and return the answer unread (the caller reads it, and must close it)."""
        connection = OnionConnection(self.port, self.circuit)
        # As a browser asks (it takes compressed answers); one request per connection, closed with its answer.
        all_headers = {"Accept-Encoding": "gzip, deflate", "Connection": "close", **(headers or {})}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        connection.request(method, path, body=body, headers=all_headers, encode_chunked=chunked)
        response = connection.getresponse()
        for cookie in response.headers.get_all("Set-Cookie") or []:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value
        return response

    def fetch(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> Answer:
        with self.open(method, path, body, headers, chunked=chunked) as response:
            return Answer(response.status, response.headers, response.read())

    def get(self, path: str) -> Answer:
        return self.fetch("GET", path)

    def post_form(self, path: str, fields: Mapping[str, str | list[str]]) -> Answer:
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        return self.fetch("POST", path, body, headers={"Content-Type": "application/x-www-form-urlencoded"})
