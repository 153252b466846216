"""Generated docs stay current: the CLI reference, the config reference, the env example and
the README's table are regenerated in memory and compared with the committed files."""
from __future__ import annotations

import re
import sys
from pathlib import Path

from catalogsync_ops.config.reference import render_config_reference, render_env_example
from catalogsync_ops.config.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from gen_docs import render_cli_reference  # noqa: E402

STALE = "stale: run `python tools/gen_docs.py` and commit the result"


def test_cli_reference_matches_every_commands_help():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert text == render_cli_reference(), STALE
    for command in ("runnerd backup", "runnerd restore", "runnerd run", "runnerd config rollback",
                    "catalogsync-web serve", "catalogsync-web create-token"):
        assert f"`{command}`" in text


def test_config_reference_and_example_match_the_schema():
    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == render_config_reference(), STALE
    assert (ROOT / "deploy" / "catalogsync.env.example").read_text(encoding="utf-8") == render_env_example(), STALE
    documented = set(re.findall(r"^### `(\w+)`", (ROOT / "docs" / "config.md").read_text(), re.M))
    assert documented == {s.key for s in SETTINGS}


def test_operations_guide_covers_the_troubles_a_nas_owner_meets():
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8").lower()
    for topic in ("runner down", "database locked", "network share", "checksum", "backup", "restore", "upgrade",
                  "systemd", "synology", "/metrics", "/healthz", "webhook"):
        assert topic in guide, topic
