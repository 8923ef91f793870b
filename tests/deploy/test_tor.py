"""The Tor recipe (config/deploy/tor/), checked by tor itself: the shipped torrc passes the check Debian's
tor@default.service runs before every start; merged with Debian's defaults it leaves no SOCKS port and keeps the
defences on; its onion services point at the ports of the shipped nginx servers; and tor, started offline,
loads both services with an inspector's key made by the shipped onion-client-key.sh."""

from __future__ import annotations

import base64
import re
import subprocess
import time
from pathlib import Path

import pytest
from nacl.public import PrivateKey

from tests.deploy.stack import CITIZEN_LISTEN, DEPLOY, REVIEWER_LISTEN, shipped, stop, tool

pytestmark = pytest.mark.skipif(
    tool("tor") is None,
    reason="tor is not installed (apt-get install tor needs root; scripts/test.py does it): skipped",
)

TORRC = DEPLOY / "tor" / "torrc"
CLIENT_KEY_SCRIPT = DEPLOY / "tor" / "onion-client-key.sh"
DEBIAN_DEFAULTS = Path("/usr/share/tor/tor-service-defaults-torrc")
SERVICE_DIRECTORIES = ("/var/lib/tor/portal-citizen/", "/var/lib/tor/portal-reviewer/")


def tor(*arguments: str) -> subprocess.CompletedProcess[str]:
    """tor as tor@default.service runs it: Debian's defaults file under the given torrc."""
    defaults = str(DEBIAN_DEFAULTS) if DEBIAN_DEFAULTS.exists() else "/dev/null"
    command = [tool("tor") or "tor", "--defaults-torrc", defaults, "-f", str(TORRC), "--RunAsDaemon", "0", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_tor_accepts_the_shipped_torrc() -> None:
    checked = tor("--verify-config")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configuration was valid" in checked.stdout


def effective_settings() -> tuple[list[tuple[str, str]], list[list[tuple[str, str]]]]:
    """tor's own view of the configuration, Debian's defaults merged in: the global settings, and the settings
    of each onion service in order."""
    dumped = tor("--dump-config", "full")
    assert dumped.returncode == 0, dumped.stderr
    pairs = [tuple(line.split(" ", 1)) for line in dumped.stdout.splitlines() if " " in line and line[0].isalpha()]
    general: list[tuple[str, str]] = []
    services: list[list[tuple[str, str]]] = []
    for name, value in pairs:
        if name == "HiddenServiceDir":
            services.append([])
        (services[-1] if services and name.startswith("HiddenService") else general).append((name, value))
    return general, services


def nginx_listen(app: str) -> str:
    """The address nginx's server for `app` listens on, read from the shipped server block."""
    site = (DEPLOY / "nginx" / "sites-available" / f"portal-{app}.conf").read_text()
    match = re.search(r"^\s*listen\s+(\S+)", site, re.MULTILINE)
    assert match
    return match.group(1)


def test_no_socks_port_is_left_open_and_logs_are_scrubbed() -> None:
    general, _ = effective_settings()
    assert [value for name, value in general if name == "SocksPort"] == ["0"]  # Debian's 9050 and socket are gone
    assert ("SafeLogging", "1") in general
    assert [value for name, value in general if name == "Log"] == ["notice syslog"]


def test_the_citizen_onion_is_defended_and_points_at_nginxs_citizen_server() -> None:
    _, services = effective_settings()
    citizen = dict(services[0])
    assert citizen["HiddenServiceDir"] == SERVICE_DIRECTORIES[0]
    assert citizen["HiddenServicePort"] == f"80 {nginx_listen('citizen')}" == f"80 {CITIZEN_LISTEN}"
    # nginx reads the circuit from a PROXY line: the server block's listen must say proxy_protocol, and does.
    assert citizen["HiddenServiceExportCircuitID"] == "haproxy"
    site = (DEPLOY / "nginx" / "sites-available" / "portal-citizen.conf").read_text()
    assert re.search(rf"listen {re.escape(CITIZEN_LISTEN)} proxy_protocol", site)
    assert citizen["HiddenServicePoWDefensesEnabled"] == "1"
    assert citizen["HiddenServiceEnableIntroDoSDefense"] == "1"
    assert int(citizen["HiddenServiceMaxStreams"]) > 0 and citizen["HiddenServiceMaxStreamsCloseCircuit"] == "1"


def test_the_reviewer_onion_points_at_nginxs_reviewer_server_without_proxy_lines() -> None:
    _, services = effective_settings()
    assert len(services) == 2
    reviewer = dict(services[1])
    assert reviewer["HiddenServiceDir"] == SERVICE_DIRECTORIES[1]
    assert reviewer["HiddenServicePort"] == f"80 {nginx_listen('reviewer')}" == f"80 {REVIEWER_LISTEN}"
    assert "HiddenServiceExportCircuitID" not in reviewer


def make_client_key() -> tuple[str, str]:
    """(private key for Tor Browser, line for authorized_clients) as the shipped script prints them."""
    made = subprocess.run(["sh", str(CLIENT_KEY_SCRIPT)], capture_output=True, text=True, check=True)
    private = re.search(r"^Private key for Tor Browser \(secret\): ([A-Z2-7]{52})$", made.stdout, re.MULTILINE)
    public = re.search(
        r"^Line for authorized_clients/<name>\.auth: (descriptor:x25519:([A-Z2-7]{52}))$", made.stdout, re.MULTILINE
    )
    assert private and public, made.stdout
    return private.group(1), public.group(1)


def raw_key(base32_text: str) -> bytes:
    return base64.b32decode(base32_text + "====")


def test_the_client_key_script_makes_a_matching_key_pair_each_time() -> None:
    (private, line), (other_private, _) = make_client_key(), make_client_key()
    assert private != other_private
    public = line.removeprefix("descriptor:x25519:")
    assert bytes(PrivateKey(raw_key(private)).public_key) == raw_key(public)


@pytest.mark.slow
def test_tor_offline_loads_both_services_and_the_inspectors_key(tmp_path: Path) -> None:
    _, auth_line = make_client_key()
    citizen, reviewer = tmp_path / "portal-citizen", tmp_path / "portal-reviewer"
    # As docs/DEPLOY.md has it: the reviewer's first key is in place before tor first starts.
    (reviewer / "authorized_clients").mkdir(parents=True, mode=0o700)
    reviewer.chmod(0o700)
    (reviewer / "authorized_clients" / "inspector.auth").write_text(auth_line + "\n")
    torrc = tmp_path / "torrc"
    torrc.write_text(shipped(TORRC, {SERVICE_DIRECTORIES[0]: f"{citizen}/", SERVICE_DIRECTORIES[1]: f"{reviewer}/"}))
    command = [
        tool("tor") or "tor", "--defaults-torrc", "/dev/null", "-f", str(torrc), "--DataDirectory", str(tmp_path / "data"),
        "--DisableNetwork", "1", "--Log", "info stdout",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Loaded a client authorization key file inspector.auth" in line:
                break
    finally:
        stop(process)
        if process.stdout:
            process.stdout.close()
    log = "".join(lines)
    assert "Loaded a client authorization key file inspector.auth" in log, log
    assert "Service PoW defenses are enabled" in log
    assert "[warn] Client authorization" not in log
    for directory in (citizen, reviewer):
        assert re.fullmatch(r"[a-z2-7]{56}\.onion\n", (directory / "hostname").read_text())
