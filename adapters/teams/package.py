"""The Teams app package: ``manifest/teams`` filled in for one bot and zipped for upload.

Teams wants a zip with ``manifest.json``, ``color.png`` (192x192) and ``outline.png`` (32x32,
white on transparent) at its root. The manifest template names no bot: the app id and the bot
id are the bot's Microsoft app id (``CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID``).
No SDK here: this runs from the command line without a server.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

MANIFEST_DIR = Path(__file__).resolve().parents[2] / "manifest" / "teams"
FILES = ("manifest.json", "color.png", "outline.png")
ICON_SIZES = {"color.png": (192, 192), "outline.png": (32, 32)}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_VERSION = re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}$")
# A fixed time for the zip entries, so the same inputs make the same zip.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


class PackageError(Exception):
    """The package cannot be built; the message says what to fix."""


def commands(manifest: dict[str, Any]) -> list[str]:
    """The bot commands a manifest offers, in order."""
    return [
        command["title"]
        for bot in manifest.get("bots", ())
        for command_list in bot.get("commandLists", ())
        for command in command_list.get("commands", ())
    ]


def png_size(data: bytes) -> tuple[int, int]:
    """The width and height of a PNG image."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise PackageError("not a PNG image")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def manifest_for(
    template: dict[str, Any], app_id: str, version: str | None = None
) -> dict[str, Any]:
    """The template with the bot's app id (and the app version, when given) filled in."""
    if not _GUID.match(app_id):
        raise PackageError(
            "the bot's app id (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID) must be "
            f"a GUID, got {app_id!r}"
        )
    if version is not None and not _VERSION.match(version):
        raise PackageError(f"the version must look like 1.2.3, got {version!r}")
    manifest: dict[str, Any] = json.loads(json.dumps(template))
    manifest["id"] = app_id
    for bot in manifest.get("bots", ()):
        bot["botId"] = app_id
    if version is not None:
        manifest["version"] = version
    return manifest


def build(app_id: str, *, version: str | None = None, source: Path = MANIFEST_DIR) -> bytes:
    """The app package (zip bytes) for the bot with this app id."""
    missing = [name for name in FILES if not (source / name).is_file()]
    if missing:
        raise PackageError(f"{source} has no {', '.join(missing)}")
    template = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    manifest = manifest_for(template, app_id, version)
    for name, size in ICON_SIZES.items():
        found = png_size((source / name).read_bytes())
        if found != size:
            raise PackageError(f"{name} must be {size[0]}x{size[1]} pixels, it is {found}")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = {
            "manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n",
            "color.png": (source / "color.png").read_bytes(),
            "outline.png": (source / "outline.png").read_bytes(),
        }
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), data)
    return out.getvalue()
