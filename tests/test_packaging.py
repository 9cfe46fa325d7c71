"""The one import package installs both ways: as a wheel (into a fresh virtualenv) and editable."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

import streamproof.adapters

REPO = Path(__file__).resolve().parents[1]


def test_editable_layout_maps_root_folders_into_streamproof() -> None:
    assert Path(streamproof.adapters.__file__).resolve().parent == REPO / "adapters"
    bundled = Path(streamproof.adapters.__file__).resolve().parent.parent / "cassettes"
    assert bundled == REPO / "cassettes"


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_imports_from_outside_the_repo(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(REPO),
        ],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("streamproof-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "streamproof/adapters/events.py" in names
    assert not any(n.startswith(("adapters/", "harness/", "conformance/", "cli/")) for n in names), names
    assert any(n.startswith("streamproof/cassettes/") and n.endswith(".yaml") for n in names) or not list(
        (REPO / "cassettes").rglob("*.yaml")
    )

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    # Dependencies come from this test run's environment (no network); the wheel itself goes in fresh.
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)

    probe = (
        "import pathlib, streamproof.adapters, streamproof.adapters.events as ev;"
        "print(pathlib.Path(streamproof.adapters.__file__).resolve());"
        "print(ev.Usage().prompt_tokens)"
    )
    out = subprocess.run(
        [str(py), "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"]},
    ).stdout.split()
    assert Path(out[0]).is_relative_to(Path(site).resolve())
    assert out[1] == "None"
