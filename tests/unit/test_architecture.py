"""The layering of DESIGN.md, enforced: no platform SDK outside ``adapters/``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
RUFF = str(Path(sys.executable).parent / "ruff")


def lint(source: str, filename: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RUFF, "check", "--select", "TID251", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.parametrize(
    "module", ["slack_bolt", "slack_sdk.models.blocks", "microsoft_agents.hosting.core"]
)
@pytest.mark.parametrize("place", ["bot/x.py", "dialogs/x.py", "storage/x.py"])
def test_the_core_may_not_import_a_platform_sdk(module: str, place: str) -> None:
    for source in (f"import {module}\n", f"from {module} import something\n"):
        result = lint(source, place)
        assert result.returncode == 1, result.stdout
        assert "TID251" in result.stdout


def test_adapters_may() -> None:
    assert lint("import slack_sdk\n", "adapters/slack/app.py").returncode == 0
