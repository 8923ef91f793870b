"""docs/DEPLOY.md and the units against the code they drive: every recipe is in the guide, every setting the guide
writes is one the apps read, and every portal command the guide or a unit runs exists with the options given.
Other parts of the project change these commands; this is where a guide gone stale is caught."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from flask import Flask

from crypto.keys import KeyPair, public_key_b64
from portal import create_citizen_app, create_reviewer_app
from tests.deploy.stack import DEPLOY
from tests.servers import ROOT

GUIDE = ROOT / "docs" / "DEPLOY.md"
EXAMPLE_ENV = ROOT / "config" / "example.env"
# `portal-flask WHO COMMAND...` (the guide's helper), or flask itself as a unit or the guide runs it.
HELPER_COMMAND = re.compile(r"portal-flask (citizen|reviewer|owner) ([^\n#|&;`]+)")
FLASK_COMMAND = re.compile(r"flask --app wsgi:(citizen|reviewer) ([^\n#'|&;`]+)")
ENV_FILE_BODY = re.compile(r"cat > /etc/portal/\w+\.env <<EOF\n(.*?)\nEOF", re.DOTALL)


def recipes() -> list[Path]:
    return sorted(path for path in DEPLOY.rglob("*") if path.is_file())


@pytest.mark.parametrize("recipe", recipes(), ids=lambda path: str(path.relative_to(DEPLOY)))
def test_the_guide_installs_every_recipe(recipe: Path) -> None:
    assert recipe.name in GUIDE.read_text(), f"docs/DEPLOY.md never mentions {recipe.relative_to(ROOT)}"


def test_every_setting_the_guide_writes_is_documented() -> None:
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", EXAMPLE_ENV.read_text(), re.MULTILINE))
    bodies = ENV_FILE_BODY.findall(GUIDE.read_text())
    assert len(bodies) == 2  # citizen.env and reviewer.env
    written = {line.split("=", 1)[0] for body in bodies for line in body.splitlines()}
    assert written <= documented, written - documented


def commands() -> list[tuple[str, list[str]]]:
    """(app, words after `flask --app wsgi:<app>`) of every portal command in the guide and the units."""
    found = []
    for match in HELPER_COMMAND.finditer(GUIDE.read_text()):
        who, words = match.groups()
        found.append(("reviewer" if who == "owner" else who, shlex.split(words)))
    for source in [GUIDE, *(DEPLOY / "systemd").glob("*.service")]:
        found += [(app, shlex.split(words)) for app, words in FLASK_COMMAND.findall(source.read_text())]
    return found


def test_the_guide_and_units_run_the_commands_they_need() -> None:
    named = {f"{app} {' '.join(words[:2])}" for app, words in commands()}
    for needed in (
        "reviewer db upgrade", "reviewer db roles", "reviewer keys init", "reviewer keys rotate",
        "reviewer backup keygen", "reviewer backup create", "reviewer backup restore", "reviewer cases purge",
        "citizen doctor --env-file", "reviewer doctor --env-file", "reviewer audit verify",
    ):  # fmt: skip
        assert needed in named


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, intake_keys: KeyPair) -> Iterator[dict[str, Flask]]:
    """Both apps, for their command lines only (no command is run)."""
    env = {
        "PORTAL_ENV": "testing",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('guide') / 'portal.db'}",
        "INTAKE_PUBLIC_KEY": public_key_b64(intake_keys.public),
    }
    built = {"citizen": create_citizen_app(env), "reviewer": create_reviewer_app(env)}
    yield built
    for app in built.values():
        app.extensions["portal_db"].dispose()


@pytest.mark.parametrize(
    ("app_kind", "words"), commands(), ids=lambda value: " ".join(value) if isinstance(value, list) else value
)
def test_each_command_exists_with_the_options_given(app_kind: str, words: list[str], apps: dict[str, Flask]) -> None:
    command: click.Command = apps[app_kind].cli
    arguments = list(words)
    path = []
    while isinstance(command, click.Group):
        assert arguments, f"`{' '.join(words)}` names a group, not a command"
        name = arguments.pop(0)
        path.append(name)
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"`flask --app wsgi:{app_kind} {' '.join(path)}` does not exist"
        command = found
    known = {option for parameter in command.params for option in (*parameter.opts, *parameter.secondary_opts)}
    used = {word.split("=", 1)[0] for word in arguments if word.startswith("-")}
    assert used <= known, f"`flask --app wsgi:{app_kind} {' '.join(path)}` has no option {sorted(used - known)}"
