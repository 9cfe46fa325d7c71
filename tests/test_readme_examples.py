"""The README's adapter examples are real: each code block is byte for byte a file here, and each
file passes every check of the scope it declares (its ``capabilities.apis``) on the bundled
cassettes, with no failure, no error and no stale known gap."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from streamproof.cli.main import main
from streamproof.conformance.protocol import load_adapter

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = Path(__file__).resolve().parent / "readme_examples"
README_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)


def test_the_readme_shows_the_short_example_byte_for_byte() -> None:
    example = (EXAMPLES / "openai_chat.py").read_text(encoding="utf-8")
    assert example in README_BLOCKS


def test_the_readme_links_the_complete_example() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "tests/readme_examples/anthropic_messages.py" in readme


@pytest.mark.parametrize("module", ["openai_chat", "anthropic_messages"])
def test_a_readme_example_passes_every_check_of_its_scope(module: str, tmp_path: Path) -> None:
    spec = f"readme_examples.{module}:factory"
    adapter = load_adapter(spec)
    junit = tmp_path / "junit.xml"
    assert main(["check", "--adapter", spec, "--junit", str(junit)]) == 0
    cases = ET.parse(junit).getroot().iter("testcase")
    verdicts: dict[str, list[str]] = {"pass": [], "skip": [], "bad": []}
    for case in cases:
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            verdicts["bad"].append(name)
        elif case.find("skipped") is not None:
            verdicts["skip"].append(name)
        else:
            verdicts["pass"].append(name)
    assert verdicts["bad"] == []
    assert not adapter.known_gaps  # nothing of its scope is excused
    # every API it claims was judged, and it passed there
    for api in adapter.capabilities.apis:
        assert sum(f"/{api}" in name for name in verdicts["pass"]) >= 100, api
