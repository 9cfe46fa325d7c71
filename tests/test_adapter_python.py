"""``streamproof check --adapter-python PYTHON``: the adapter runs in a second interpreter, with only
what it imports installed, and is served the cassette on loopback (``conformance/remote``).

The second interpreter is a virtualenv made here (``python -m venv --without-pip``: no network, no
PyPI). Its site-packages gets one ``.pth`` naming a folder of links to exactly the packages the
adapter imports (found by importing it in this interpreter), not this venv's site-packages: pytest,
syrupy, rich and the rest of streamproof's test and CLI dependencies are absent there, which the
fixture checks. streamproof itself is linked as its package folders (the adapter imports
``streamproof.conformance.reference``), not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from thirdparty.broken import BUGS

from streamproof.cli.main import main
from streamproof.conformance.battery import discover_cases
from streamproof.conformance.plugin import SHIPPED_SNAPSHOTS, bundled_cassettes, snapshot_name

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("adapters", "harness", "conformance", "cli", "benchmarks", "cassettes")
REFERENCE = "streamproof.conformance.reference:factory"
# one per wire format, with tool calls, reasoning signatures and an error response: 5 of the 50 cases
SUBSET = (
    "openai/chat/tool_call",
    "openai/responses/reasoning",
    "anthropic/messages/reasoning",
    "anthropic/messages/bad_key",
    "bedrock/messages/tool_call",
)

# the adapter modules the second interpreter must import, by name; prints each top-level module they
# load from outside the standard library, with where it lives
_FIND_IMPORTS = """
import importlib, importlib.util, json, sys, sysconfig
before = set(sys.modules)
for name in sys.argv[1:]:
    importlib.import_module(name)
for name in (  # imported by the first request only (botocore: by the first Bedrock client)
    "httpcore2._async.http11", "httpcore._async.http11", "anthropic.lib.bedrock._client", "botocore.session",
    "botocore.auth", "botocore.awsrequest", "botocore.credentials", "boto3", "boto3.session",
):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
found = {}
for top in sorted({m.split(".")[0] for m in set(sys.modules) - before}):
    if top in sys.stdlib_module_names or top in ("streamproof", "thirdparty"):
        continue
    spec = getattr(sys.modules.get(top), "__spec__", None)  # a runtime module (Cython's) has none
    where = list(spec.submodule_search_locations or []) if spec else []
    where = where or ([spec.origin] if spec and spec.origin else [])
    found[top] = [w for w in where if any(w.startswith(s) for s in site)]
print(json.dumps(found))
"""


def _distribution_infos(tops: list[str]) -> set[Path]:
    """The .dist-info folders of the distributions those modules belong to (their metadata and
    entry points, which some of them read at import)."""
    from importlib.metadata import distribution, packages_distributions

    owners = packages_distributions()
    infos = set()
    for top in tops:
        for name in owners.get(top, []):
            path = getattr(distribution(name), "_path", None)
            if isinstance(path, Path) and path.is_dir():
                infos.add(path)
    return infos


def make_adapter_env(root: Path, modules: list[str]) -> Path:
    """A virtualenv under ``root`` that can import ``modules`` and little else; its python."""
    try:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(root / "venv")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot create a virtualenv here: {exc}")
    python = root / "venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("the virtualenv has no bin/python (not a POSIX layout)")
    deps = root / "deps"
    (deps / "streamproof").mkdir(parents=True)
    for folder in ROOTS:
        (deps / "streamproof" / folder).symlink_to(REPO / folder)
    (deps / "thirdparty").symlink_to(REPO / "tests" / "thirdparty")
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    found = json.loads(
        subprocess.run(
            [sys.executable, "-c", _FIND_IMPORTS, *modules],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
    )
    for places in found.values():
        for place in places[:1]:
            (deps / Path(place).name).symlink_to(place)
    for info in _distribution_infos(list(found)):
        if not (deps / info.name).exists():
            (deps / info.name).symlink_to(info)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "streamproof-test-deps.pth").write_text(f"{deps}\n", encoding="utf-8")
    return python


@pytest.fixture(scope="module")
def adapter_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("adapter-env")
    python = make_adapter_env(root, ["streamproof.conformance.reference", "thirdparty.broken"])
    probe = "import importlib.util as u, sys; print(sys.prefix, [m for m in ('pytest', 'syrupy', 'rich') if u.find_spec(m)])"
    prefix, _, present = (
        subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
        .stdout.strip()
        .partition(" ")
    )
    assert Path(prefix) == root / "venv" and present == "[]"  # its own env, without streamproof's test stack
    return python


def folder_with(tmp_path: Path, *names: str) -> list[str]:
    folder, snapshots = tmp_path / "cassettes", tmp_path / "snapshots" / "suite"
    snapshots.mkdir(parents=True)
    for name in names:
        target = folder / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled_cassettes() / f"{name}.yaml", target)
    for case in discover_cases(folder):
        shutil.copy(SHIPPED_SNAPSHOTS / "suite" / snapshot_name(case.id), snapshots)
    return ["--cassettes", str(folder), "--snapshots", str(snapshots.parent)]


def records(junit: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Per item (case id, check): the record its JUnit test case carries."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        carried = next(p.get("value", "") for p in case.iter("property") if p.get("name") == "streamproof")
        record = json.loads(carried)
        found[(record["case_id"], record["check"])] = record
    return found


def verdicts(junit: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Per item (case id, check): its status and message."""
    return {key: (record["status"], record["message"]) for key, record in records(junit).items()}


def failed_items(junit: Path) -> dict[str, set[str]]:
    """Per case id, the items that failed."""
    found: dict[str, set[str]] = {}
    for (case, check), (status, _) in verdicts(junit).items():
        if status in ("fail", "error"):
            found.setdefault(case, set()).add(check)
    return found


def test_the_reference_in_its_own_venv_gets_the_in_process_verdicts(
    adapter_python: Path, tmp_path: Path
) -> None:
    args = folder_with(tmp_path, *SUBSET)
    here, there = tmp_path / "here.xml", tmp_path / "there.xml"
    assert main(["check", *args, "--junit", str(here)]) == 0
    assert (
        main(
            [
                "check",
                "--adapter-python",
                str(adapter_python),
                "--adapter",
                REFERENCE,
                *args,
                "--junit",
                str(there),
            ]
        )
        == 0
    )
    expected, got = verdicts(here), verdicts(there)
    assert len(expected) == 17 * len(SUBSET)
    assert got == expected
    assert {status for status, _ in got.values()} == {
        "pass",
        "skip",
    }  # the error case skips its stream checks


@pytest.mark.parametrize(
    "bug",
    ["buffers_whole_stream", "raises_on_early_close", "maps_529_to_generic", "no_read_timeout_of_its_own"],
)
def test_a_broken_adapter_in_its_own_venv_fails_on_its_check(
    adapter_python: Path, tmp_path: Path, bug: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The buffering adapter shows that the held tail is held on the socket too; the one that raises
    at an early stop, that the consumer's stop reaches the remote stream; the 529 one, a fault; the one
    with a ten-minute read timeout, that a stall is judged on the socket (it is dropped, unanswered)."""
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / f"remote_{bug}.py").write_text(
        f"from thirdparty.broken import BUGS\n\ndef factory():\n    return BUGS[{bug!r}][0]()\n",
        encoding="utf-8",
    )
    name = "anthropic/messages/text" if bug == "maps_529_to_generic" else "openai/chat/text"
    args = folder_with(tmp_path, name)
    junit = tmp_path / "r.xml"
    monkeypatch.setenv("PYTHONPATH", str(adapters))  # the worker inherits it
    spec = f"remote_{bug}:factory"
    assert (
        main(
            [
                "check",
                "--adapter-python",
                str(adapter_python),
                "--adapter",
                spec,
                *args,
                "--junit",
                str(junit),
            ]
        )
        == 1
    )
    assert failed_items(junit) == {f"{name}#0": set(BUGS[bug][1])}


DIES = """
import os

from streamproof.conformance.reference import ReferenceAdapter


class DiesOnMessages(ReferenceAdapter):
    name = "dies-on-messages"

    async def stream(self, call):
        async for event in super().stream(call):
            yield event
            if call.api == "messages":
                os._exit(3)  # the interpreter dies in the middle of the stream


def factory():
    return DiesOnMessages()
"""


def test_an_interpreter_that_dies_mid_call_fails_that_case_not_the_run(
    adapter_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "remote_dies.py").write_text(DIES, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(adapters))
    args = folder_with(tmp_path, "openai/chat/text", "anthropic/messages/text")
    junit = tmp_path / "r.xml"
    chosen = [
        "--case",
        "openai/chat/text#0",
        "--case",
        "anthropic/messages/text#0::outcome",
    ]  # each death costs a restart
    code = main(
        [
            "check",
            "--adapter-python",
            str(adapter_python),
            "--adapter",
            "remote_dies:factory",
            *args,
            *chosen,
            "--junit",
            str(junit),
        ]
    )
    assert code == 1
    found = verdicts(junit)
    died = records(junit)[("anthropic/messages/text#0", "outcome")]
    assert died["status"] == "fail" and died["difference"]["path"] == "outcome.error"
    got = died["difference"]["actual"]  # in full: the message shortens it
    assert got.startswith(f"RemoteAdapterCrashed: the adapter's interpreter ({adapter_python}, pid ")
    assert got.endswith("exited with code 3 during the call")
    others = {key: value for key, value in found.items() if key[0] == "openai/chat/text#0"}
    assert len(others) == 17 and {status for status, _ in others.values()} == {
        "pass"
    }  # the next call had a fresh one


def test_an_interpreter_that_cannot_run_the_adapter_is_a_usage_error(
    adapter_python: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = folder_with(tmp_path, "openai/chat/text")
    missing = tmp_path / "no-such-python"
    assert main(["check", "--adapter-python", str(missing), *args]) == 2
    assert f"--adapter-python {missing}: no such interpreter" in " ".join(capsys.readouterr().err.split())
    assert main(["check", "--adapter-python", str(adapter_python), "--adapter", "pytest:main", *args]) == 2
    err = " ".join(capsys.readouterr().err.split())  # pytest is not in that interpreter, only in this one
    assert "adapter 'pytest:main' in" in err and "ModuleNotFoundError: No module named 'pytest'" in err


OWN_WAY_OUT = """
import socket

import httpx2

from streamproof.conformance.reference import ReferenceAdapter


class OwnClient(ReferenceAdapter):
    '''The reference on a client of its own, at the recorded host, not at call.base_url.'''

    name = "own-client"

    async def stream(self, call):
        call.base_url = "https://api.openai.com/v1"
        async with httpx2.AsyncClient(timeout=call.timeout_s) as client:
            call.http_client = client
            async for event in super().stream(call):
                yield event


class LooksUpAHost(ReferenceAdapter):
    name = "looks-up-a-host"

    async def stream(self, call):
        try:
            socket.getaddrinfo("telemetry.example.com", 443)
        except OSError:
            pass  # a library that swallows it: the case still fails, naming the host
        async for event in super().stream(call):
            yield event


def own_client():
    return OwnClient()


def looks_up_a_host():
    return LooksUpAHost()
"""


def test_the_remote_side_is_routed_and_guarded_as_in_process(
    adapter_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "remote_ways_out.py").write_text(OWN_WAY_OUT, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(adapters))
    args = [*folder_with(tmp_path, "openai/chat/text"), "--case", "openai/chat/text#0::outcome"]
    routed, guarded = tmp_path / "routed.xml", tmp_path / "guarded.xml"
    python = ["--adapter-python", str(adapter_python)]
    assert (
        main(["check", *python, "--adapter", "remote_ways_out:own_client", *args, "--junit", str(routed)])
        == 0
    )
    assert verdicts(routed) == {
        ("openai/chat/text#0", "outcome"): ("pass", "ok")
    }  # its own client reached the cassette
    assert (
        main(
            ["check", *python, "--adapter", "remote_ways_out:looks_up_a_host", *args, "--junit", str(guarded)]
        )
        == 1
    )
    status, message = verdicts(guarded)[("openai/chat/text#0", "outcome")]
    assert status == "fail"
    assert (
        message == "the call tried to reach telemetry.example.com:443 (name resolution) outside the cassette"
    )


HANGS = """
import time

from streamproof.conformance.reference import ReferenceAdapter


class HangsOnMessages(ReferenceAdapter):
    name = "hangs-on-messages"

    async def stream(self, call):
        if call.api == "messages":
            time.sleep(3600)  # blocks its whole interpreter: not even a cancellation gets through
        async for event in super().stream(call):
            yield event


def factory():
    return HangsOnMessages()
"""


def test_an_interpreter_that_hangs_fails_that_case_in_bounded_time(
    adapter_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapters = tmp_path / "adapters"
    adapters.mkdir()
    (adapters / "remote_hangs.py").write_text(HANGS, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(adapters))
    args = folder_with(tmp_path, "openai/chat/text", "anthropic/messages/text")
    junit = tmp_path / "r.xml"
    chosen = ["--case", "anthropic/messages/text#0::outcome", "--case", "openai/chat/text#0::outcome"]
    code = main(
        [
            "check",
            "--adapter-python",
            str(adapter_python),
            "--adapter",
            "remote_hangs:factory",
            *args,
            *chosen,
            "--junit",
            str(junit),
        ]
    )
    assert code == 1
    assert verdicts(junit) == {
        ("anthropic/messages/text#0", "outcome"): (
            "fail",
            "call: expected 'an outcome before the deadline', got 'no outcome: the call hung'",
        ),
        ("openai/chat/text#0", "outcome"): (
            "pass",
            "ok",
        ),  # after the battery's deadline the worker was replaced
    }


def test_a_module_in_the_current_folder_is_found_as_in_process(
    adapter_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = [*folder_with(tmp_path, "openai/chat/text"), "--case", "openai/chat/text#0::outcome"]
    here = tmp_path / "work"
    here.mkdir()
    (here / "first_adapter.py").write_text(
        "from streamproof.conformance.reference import factory\n", encoding="utf-8"
    )
    monkeypatch.chdir(here)
    junit = tmp_path / "r.xml"
    python = ["--adapter-python", str(adapter_python)]
    assert main(["check", *python, "--adapter", "first_adapter:factory", *args, "--junit", str(junit)]) == 0
    assert verdicts(junit) == {("openai/chat/text#0", "outcome"): ("pass", "ok")}
