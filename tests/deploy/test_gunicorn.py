"""The gunicorn configs (config/gunicorn/), booted by gunicorn itself on a unix socket as the systemd unit runs
them: the socket is there for its owner and group only, requests leave no access log line, no control socket is
made, and workers are recycled."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from tests.deploy.stack import get_over_socket, gunicorn
from tests.servers import GUNICORN, ROOT

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("app", ["citizen", "reviewer"])
def test_each_app_serves_on_its_socket_and_logs_no_request(app: str, env: dict[str, str], tmp_path: Path) -> None:
    with gunicorn(app, env, tmp_path, sandboxed=False) as server:
        mode = server.socket.stat().st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o770  # nginx's group may connect; no other local user
        requests = ["/vi/", "/en/", "/vi/login", "/vi/nowhere-7f3a", "/static/css/portal.css"]
        for target in requests:
            assert get_over_socket(server.socket, target)[0] in (200, 302, 404)
        # gunicorn >= 25.1 would have opened its control socket in XDG_RUNTIME_DIR (or ~/.gunicorn) by now.
        assert list(server.home.rglob("*")) == []
    log = server.log.read_text()
    for target in requests:
        assert target not in log
    assert "HTTP/1." not in log and '"GET' not in log


@pytest.mark.parametrize("app", ["citizen", "reviewer"])
def test_the_resolved_configuration_recycles_workers_and_keeps_logs_off(app: str, env: dict[str, str]) -> None:
    """What gunicorn makes of the config file (with the unit's socket), printed by gunicorn itself after it has
    loaded the app."""
    resolved = subprocess.run(
        [str(GUNICORN), "--print-config", "--config", str(ROOT / "config" / "gunicorn" / f"{app}.py"), f"wsgi:{app}"],
        env={**env, "PATH": "/usr/bin:/bin", f"{app.upper()}_BIND": f"unix:/run/portal-{app}/gunicorn.sock"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    settings = dict(line.split(" = ", 1) for line in resolved.splitlines() if " = " in line)
    settings = {name.strip(): value.strip() for name, value in settings.items()}
    assert settings["bind"] == f"['unix:/run/portal-{app}/gunicorn.sock']"
    assert int(settings["max_requests"]) > 0 and int(settings["max_requests_jitter"]) > 0
    assert settings["accesslog"] == "None"
    assert settings["control_socket_disable"] == "True"
    assert settings["loglevel"] == "warning"
    assert int(settings["umask"]) == 0o007
    assert int(settings["timeout"]) == 300
