"""The systemd recipe (config/deploy/systemd/), checked by systemd's own tools and by running the apps inside the
seccomp filters its sandbox makes.

`systemd-analyze verify` checks every unit in a root file system laid out as on the server: systemd's own units,
the shipped units in /etc/systemd/system, and each program a unit runs at the path it names (the project's from
this checkout, as if it were /opt/portal; the others from this machine). `systemd-analyze security` rates the
services' exposure. PID 1 here is not systemd, so the units are not started; instead tests/deploy/seccomp_sandbox.py
installs the filters that their SystemCallFilter=, RestrictAddressFamilies= and MemoryDenyWriteExecute= lines
make, and the apps and the libraries they load must work inside them (test_nginx.py runs its whole stack so).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy import seccomp_sandbox
from tests.deploy.stack import DEPLOY, HARDENING, SANDBOX, get_over_socket, gunicorn, tool
from tests.servers import ROOT

pytestmark = pytest.mark.skipif(
    tool("systemd-analyze") is None, reason="systemd-analyze is not installed (Debian's systemd package): skipped"
)

UNITS = (
    "portal-app@citizen.service",
    "portal-app@reviewer.service",
    "portal-backup.service",
    "portal-backup.timer",
    "portal-purge.service",
    "portal-purge.timer",
)
SERVICES = [unit for unit in UNITS if unit.endswith(".service")]
EXEC_LINE = re.compile(r"^Exec\w+=[-@:+!]*(/\S+)", re.MULTILINE)
SYSTEMD_UNITS = Path("/usr/lib/systemd/system")
# The highest overall exposure `systemd-analyze security` may give a service (0 is best, 10 worst; below 2 is "OK").
EXPOSURE_CEILING = 1.5


def programs_run_by_the_units() -> set[str]:
    return {match for unit in (DEPLOY / "systemd").glob("*.service") for match in EXEC_LINE.findall(unit.read_text())}


@pytest.fixture(scope="module")
def system_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    for link in ("bin", "sbin", "lib"):  # Debian 12's merged /usr
        (root / "usr" / link).mkdir(parents=True)
        (root / link).symlink_to(f"usr/{link}")
    shutil.copytree(SYSTEMD_UNITS, root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    shutil.copytree(DEPLOY / "systemd", root / "etc" / "systemd" / "system")
    for program in programs_run_by_the_units():
        source = ROOT / program.removeprefix("/opt/portal/") if program.startswith("/opt/portal/") else Path(program)
        assert source.is_file(), f"a unit runs {program}, which {source} should be"
        target = root / program.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return root


@pytest.mark.parametrize("unit", UNITS)
def test_systemd_analyze_verifies_the_unit_without_a_word(system_root: Path, unit: str) -> None:
    """Any output is a finding: an unknown or misspelt setting is only warned about, then ignored by systemd."""
    checked = subprocess.run(
        [tool("systemd-analyze") or "systemd-analyze", "verify", f"--root={system_root}", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout + checked.stderr == ""


@pytest.mark.parametrize("unit", SERVICES)
def test_each_service_is_sandboxed_by_the_shared_drop_in(system_root: Path, unit: str) -> None:
    review = subprocess.run(
        [tool("systemd-analyze") or "systemd-analyze", "security", "--offline=true", f"--root={system_root}", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(rf"Overall exposure level for {re.escape(unit)}: (\d+\.\d) (\w+)", review.stdout)
    assert match, review.stdout + review.stderr
    print(f"{unit}: exposure {match.group(1)} {match.group(2)}")
    assert float(match.group(1)) <= EXPOSURE_CEILING, review.stdout
    for setting in ("MemoryDenyWriteExecute=", "ProtectSystem=", "CapabilityBoundingSet=~CAP_SYS_ADMIN"):
        assert re.search(rf"✓ {re.escape(setting)}", review.stdout), setting


# --- inside the seccomp filters ---------------------------------------------------------------------------------

needs_seccomp = pytest.mark.skipif(not seccomp_sandbox.available(), reason=seccomp_sandbox.UNAVAILABLE)

PROBE = """
import ctypes, io, mmap, os, socket, tempfile
def outcome(action):
    try:
        action()
        return "allowed"
    except OSError as error:
        return os.strerror(error.errno)
print("write+execute memory:", outcome(lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)))
print("packet socket:", outcome(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW)))
print("netlink socket:", outcome(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)))
print("setuid:", outcome(lambda: os.setuid(0)))
print("nice:", outcome(lambda: os.nice(1)))
print("unix socket:", outcome(lambda: socket.socket(socket.AF_UNIX).close()))
with tempfile.NamedTemporaryFile() as own:
    print("chown of an own file:", outcome(lambda: os.chown(own.name, os.getuid(), os.getgid())))
import cffi
try:
    cffi.FFI().callback("int(int)", lambda x: x)
    print("old-style cffi callback: allowed")
except MemoryError:
    print("old-style cffi callback: refused")
import argon2, lxml.etree, nacl.public, nacl.pwhash, pikepdf, psycopg
from PIL import Image
key = nacl.public.PrivateKey.generate()
sealed = nacl.public.SealedBox(key.public_key).encrypt(b"report")
assert nacl.public.SealedBox(key).decrypt(sealed) == b"report"
assert len(nacl.pwhash.argon2id.kdf(32, b"passphrase", b"0" * 16, opslimit=2, memlimit=8 << 20)) == 32
hasher = argon2.PasswordHasher()
assert hasher.verify(hasher.hash("password"), "password")
document = pikepdf.new()
document.add_blank_page()
document.save(io.BytesIO())
Image.new("RGB", (8, 8)).save(io.BytesIO(), "JPEG")
lxml.etree.fromstring(b"<x/>")
print("libraries: work")
"""


@needs_seccomp
def test_the_filters_refuse_what_the_units_take_away_and_the_libraries_still_work() -> None:
    probed = subprocess.run(
        [sys.executable, str(SANDBOX), str(HARDENING), sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert probed.returncode == 0, probed.stderr
    assert probed.stdout.splitlines() == [
        "write+execute memory: Operation not permitted",
        "packet socket: Address family not supported by protocol",
        "netlink socket: Address family not supported by protocol",
        "setuid: Operation not permitted",
        "nice: Operation not permitted",
        "unix socket: allowed",
        "chown of an own file: allowed",
        "old-style cffi callback: refused",
        "libraries: work",
    ]


@needs_seccomp
@pytest.mark.slow
@pytest.mark.parametrize("app", ["citizen", "reviewer"])
def test_each_app_serves_inside_the_filters(app: str, env: dict[str, str], tmp_path: Path) -> None:
    with gunicorn(app, env, tmp_path) as server:
        assert get_over_socket(server.socket, "/healthz") == (200, b"ok")  # the database answers, too
        status, page = get_over_socket(server.socket, "/vi/" if app == "citizen" else "/vi/login")
        assert status == 200
        assert b'<html lang="vi">' in page
