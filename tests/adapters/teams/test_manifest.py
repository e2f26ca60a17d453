"""The Teams app package: the manifest, its icons, the zip, and its commands against the
commands valuesbot really handles."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from adapters.teams.package import (
    MANIFEST_DIR,
    PackageError,
    build,
    commands,
    manifest_for,
    png_size,
)
from adapters.teams.translate import COMMANDS
from bot.cli import main
from tests.adapters.teams.conftest import ALICE, APP_ID, TeamsWorld

TEMPLATE = json.loads((MANIFEST_DIR / "manifest.json").read_text())


def pixels(data: bytes) -> list[tuple[int, int, int, int]]:
    """The RGBA pixels of a PNG written with filter 0 rows (as make_icons.py writes them)."""
    width, height = png_size(data)
    assert data[24:26] == bytes([8, 6]), "8-bit RGBA"
    position, idat = 8, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            idat += data[position + 8 : position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 4 * width
    found = []
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0
        found += [tuple(row[1 + 4 * x : 5 + 4 * x]) for x in range(width)]
    return found  # type: ignore[return-value]


def test_the_manifest_template() -> None:
    assert TEMPLATE["manifestVersion"] == "1.25"
    assert TEMPLATE["$schema"].endswith("/v1.25/MicrosoftTeams.schema.json")
    (bot,) = TEMPLATE["bots"]
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert commands(TEMPLATE) == list(COMMANDS)
    for command in bot["commandLists"][0]["commands"]:
        assert len(command["title"]) <= 32
        assert 0 < len(command["description"]) <= 128
    assert len(TEMPLATE["name"]["short"]) <= 30
    assert len(TEMPLATE["description"]["short"]) <= 80
    assert len(TEMPLATE["description"]["full"]) <= 4000
    assert TEMPLATE["icons"] == {"color": "color.png", "outline": "outline.png"}
    # No "permissions": a field of the oldest manifests, optional and unused by Teams now.
    assert "permissions" not in TEMPLATE


def test_each_command_is_described_as_what_it_does() -> None:
    described = {
        c["title"]: c["description"] for c in TEMPLATE["bots"][0]["commandLists"][0]["commands"]
    }
    # Reviewing case studies is "casestudy queue"; the digest is scheduled and sent.
    assert described["digest"] == (
        "Comms: schedule, preview and send the weekly values digest to a channel."
    )
    assert "case stud" not in described["digest"]
    assert described["casestudy"].startswith("Share a story of what good looks like")


def test_the_icons() -> None:
    color = (MANIFEST_DIR / "color.png").read_bytes()
    outline = (MANIFEST_DIR / "outline.png").read_bytes()
    assert png_size(color) == (192, 192)
    assert png_size(outline) == (32, 32)
    assert all(alpha == 255 for *_, alpha in pixels(color))  # full bleed
    seen = set(pixels(outline))
    assert seen <= {(255, 255, 255, 255), (0, 0, 0, 0)}  # white on transparent only
    assert len(seen) == 2


def test_the_icons_are_what_the_script_draws(tmp_path: Path) -> None:
    script = (MANIFEST_DIR / "make_icons.py").read_text()
    copy = tmp_path / "make_icons.py"
    copy.write_text(script)
    subprocess.run([sys.executable, str(copy)], check=True)
    for name in ("color.png", "outline.png"):
        assert (tmp_path / name).read_bytes() == (MANIFEST_DIR / name).read_bytes(), name


def test_the_package_has_the_bots_id_and_the_files_at_its_root() -> None:
    data = build(APP_ID, version="1.2.3")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert archive.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
    assert manifest["id"] == APP_ID
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["version"] == "1.2.3"
    assert build(APP_ID, version="1.2.3") == data  # the same inputs, the same zip


@pytest.mark.parametrize(
    ("app_id", "version", "message"),
    [("not-a-guid", None, "must be a GUID"), (APP_ID, "1.0", "must look like 1.2.3")],
)
def test_bad_package_inputs(app_id: str, version: str | None, message: str) -> None:
    with pytest.raises(PackageError, match=message):
        manifest_for(TEMPLATE, app_id, version)


def test_the_cli_writes_the_zip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", APP_ID)
    monkeypatch.setenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET", "x" * 20)
    assert main(["teams", "package", "--output", "app.zip"]) == 0
    assert "wrote app.zip" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "app.zip") as archive:
        assert json.loads(archive.read("manifest.json"))["id"] == APP_ID


def test_the_cli_needs_the_app_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", raising=False)
    assert main(["teams", "package"]) == 2
    assert "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID" in capsys.readouterr().err


async def test_every_command_in_the_package_gets_its_real_answer(teams: TeamsWorld) -> None:
    with zipfile.ZipFile(io.BytesIO(build(APP_ID))) as archive:
        offered = commands(json.loads(archive.read("manifest.json")))
    handled = set(teams.app.dispatcher.router.commands)
    # Everything the bot handles is offered in Teams' command menu...
    assert handled <= set(offered)
    # ...and every command offered is understood as a command in Teams: those built answer
    # with their feature, those not built yet with the core's unknown-command help.
    for command in offered:
        await teams.says(command)
        answer = teams.last(ALICE.direct)
        unknown = answer.startswith("I don't know that command")
        assert unknown == (command not in handled), (command, answer)
