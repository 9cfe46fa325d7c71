"""``streamproof check`` runs the suite with its own pytest plugins only: another plugin installed
in the same environment (langsmith's comes with LangChain) is never loaded into a check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_a_stray_installed_pytest_plugin_is_not_loaded_into_a_check(tmp_path: Path) -> None:
    (tmp_path / "stray_check_plugin.py").write_text(
        "def pytest_configure(config):\n    raise RuntimeError('a stray plugin was loaded')\n",
        encoding="utf-8",
    )
    info = tmp_path / "stray_check_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: stray-check-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nstray = stray_check_plugin\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    found = subprocess.run(
        [sys.executable, "-c", "from importlib.metadata import entry_points as e; "
         "print([p.name for p in e(group='pytest11')])"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "'stray'" in found.stdout  # the plugin is installed, as far as pytest can tell
    done = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "check", "--case", "openai/chat/text*"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "stray plugin" not in done.stdout + done.stderr
    assert "openai/chat" in done.stdout + done.stderr  # the summary table names what was checked
