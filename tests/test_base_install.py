"""The base install (``pip install streamproof``, no extra): a command that needs an extra says which
one to install and exits 2, instead of a ModuleNotFoundError. The extra's modules are made
unimportable in a subprocess by a meta-path finder that refuses them, as if never installed."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

class NotInstalled(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
from streamproof.cli.main import main
sys.exit(main({argv!r}))
"""


def without(blocked: set[str], *argv: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PYTEST_")}
    code = BLOCKER.format(blocked=blocked, argv=list(argv))
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@pytest.mark.parametrize("blocked", [{"pytest", "_pytest", "syrupy", "pytest_asyncio"}, {"syrupy"}])
def test_check_without_the_conformance_extra_names_it(blocked: set[str]) -> None:
    result = without(blocked, "check")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "install the 'conformance' extra: pip install 'streamproof[conformance]'" in result.stderr
    assert "Traceback" not in result.stderr and "ModuleNotFoundError" not in result.stderr


def test_the_blocker_blocks_and_other_commands_still_run() -> None:
    blocked = {"pytest", "_pytest", "syrupy", "pytest_asyncio"}
    result = without(blocked, "--version")
    assert result.returncode == 0 and result.stdout.startswith("streamproof ")
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCKER.replace("from streamproof", "import pytest\nfrom streamproof").format(
                blocked=blocked, argv=["--version"]
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode != 0 and "No module named 'pytest'" in probe.stderr


def test_the_readme_names_every_extra() -> None:
    extras = metadata("streamproof").get_all("Provides-Extra") or []  # pyproject's, as installed
    assert "conformance" in extras
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Extras", 1)[1].split("\n## ", 1)[0]
    for extra in extras:
        assert f"`[{extra}]`" in section, f"the README's Extras section does not name [{extra}]"
