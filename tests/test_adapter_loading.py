"""``--adapter MODULE:FACTORY`` finds a first adapter in the folder the command runs in."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from streamproof.conformance.protocol import AdapterLoadError, load_adapter


def test_a_module_in_the_current_folder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "first_adapter_here.py").write_text(
        "from streamproof.conformance.reference import factory\n", encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "first_adapter_here", raising=False)
    assert load_adapter("first_adapter_here:factory").name == "streamproof-reference"


def test_a_module_that_is_nowhere_still_says_it_cannot_be_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(AdapterLoadError, match="cannot import 'no_adapter_anywhere'"):
        load_adapter("no_adapter_anywhere:factory")
    assert str(tmp_path) not in sys.path


def test_a_missing_dependency_of_a_found_module_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "adapter_with_missing_dep.py").write_text("import no_such_library_here\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [entry for entry in sys.path if entry not in ("", str(tmp_path))])
    with pytest.raises(AdapterLoadError, match="no_such_library_here"):
        load_adapter("adapter_with_missing_dep:factory")
