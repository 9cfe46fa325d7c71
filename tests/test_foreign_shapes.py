"""Every cassette shape vcrpy 9.4 reads (and aiohttp's istr header names), each written here in its
original shape, read by ``streamproof replay``, ``streamproof check`` and the pytest plugin.

vcrpy itself records three of them through the OpenAI SDK against the emulator (its YAML, its JSON
serializer, and a gzip persister like LangChain's); the others are dumped with the python tags the
older writers used, from the interaction vcrpy recorded."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
import pytest
import vcr
import yaml
from vcr.serialize import deserialize, serialize

from streamproof.adapters.errors import CassetteError
from streamproof.harness.cassette import import_cassette, load_cassette
from streamproof.harness.emulator import Emulator

KEY = "sk-proj-" + "Fv3" * 12  # invented
MESSAGES = [{"role": "user", "content": "Say hello"}]
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


class GzipPersister:
    """LangChain's way: vcrpy's serialized YAML, gzip-compressed, in ``*.yaml.gz``."""

    @classmethod
    def load_cassette(cls, cassette_path: str, serializer: Any) -> Any:
        path = Path(cassette_path)
        if not path.is_file():
            raise vcr.persisters.filesystem.CassetteNotFoundError()
        return deserialize(gzip.decompress(path.read_bytes()).decode(), serializer)

    @staticmethod
    def save_cassette(cassette_path: str, cassette_dict: Any, serializer: Any) -> None:
        Path(cassette_path).write_bytes(gzip.compress(serialize(cassette_dict, serializer).encode()))


def _istr_representer(tag: str) -> Any:
    def represent(dumper: yaml.Dumper, name: str) -> yaml.Node:
        return yaml.SequenceNode(tag, [dumper.represent_str(str(name))])

    return represent


class ApplyIstr(str):
    pass


class NewIstr(str):
    pass


class _OldWriter(yaml.Dumper):
    """PyYAML's full dumper, as older vcrpy releases and aiohttp recorders used it."""


_OldWriter.add_representer(
    ApplyIstr, _istr_representer("tag:yaml.org,2002:python/object/apply:multidict._multidict.istr")
)
_OldWriter.add_representer(
    NewIstr, _istr_representer("tag:yaml.org,2002:python/object/new:multidict._multidict.istr")
)


def _sdk_text(base_url: str) -> str:
    client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def _vcrpy_interaction(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=yaml.CSafeLoader)["interactions"][0]  # type: ignore[no-any-return]


def _old_httpx(interaction: dict[str, Any]) -> dict[str, Any]:
    response = interaction["response"]
    return {
        "request": interaction["request"],
        "response": {
            "status_code": response["status"]["code"],
            "http_version": "HTTP/1.1",
            "headers": response["headers"],
            "content": response["body"]["string"],
        },
    }


def _python_tags(interaction: dict[str, Any], body_as: str) -> dict[str, Any]:
    request, response = interaction["request"], interaction["response"]
    body = request["body"].encode() if isinstance(request["body"], str) else request["body"]
    half = len(body) // 2
    wrapped = io.BytesIO(body) if body_as == "bytesio" else iter([body[:half], body[half:]])
    return {
        "request": {
            **request,
            "body": wrapped,  # !!python/object/new:_io.BytesIO or !!python/object/apply:builtins.iter
            "headers": {name: tuple(values) for name, values in request["headers"].items()},  # !!python/tuple
        },
        "response": {
            **response,
            "headers": {name: tuple(values) for name, values in response["headers"].items()},
        },
    }


def _aiohttp(interaction: dict[str, Any]) -> dict[str, Any]:
    response = interaction["response"]
    headers = {
        (ApplyIstr(name) if i % 2 == 0 else NewIstr(name)): values
        for i, (name, values) in enumerate(response["headers"].items())
    }
    return {"request": interaction["request"], "response": {**response, "headers": headers}}


def _dump_old(interaction: dict[str, Any]) -> str:
    text = yaml.dump({"interactions": [interaction], "version": 1}, Dumper=_OldWriter)
    # Python 2 era writers tagged plain strings too
    return text.replace("method: POST", "method: !!python/unicode 'POST'").replace(
        "uri: ", "uri: !!python/str ", 1
    )


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    folder = tmp_path_factory.mktemp("foreign") / "cassettes"
    folder.mkdir()
    with Emulator() as emulator:
        base_url = emulator.openai_base_url
        live = _sdk_text(base_url)
        for name, serializer, persister in (
            ("vcrpy.yaml", "yaml", None),
            ("vcrpy_json.json", "json", None),
            ("langchain.yaml.gz", "yaml", GzipPersister),
        ):
            recorder = vcr.VCR(serializer=serializer)
            if persister is not None:
                recorder.register_persister(persister)
            with recorder.use_cassette(str(folder / name)):
                assert _sdk_text(base_url) == live
    interaction = _vcrpy_interaction(folder / "vcrpy.yaml")
    (folder / "old_httpx.yaml").write_text(
        vcr.serializers.yamlserializer.serialize({"interactions": [_old_httpx(interaction)], "version": 1})
    )
    (folder / "python_tags.yaml").write_text(_dump_old(_python_tags(interaction, "bytesio")))
    (folder / "python_iter.yaml").write_text(_dump_old(_python_tags(interaction, "iter")))
    (folder / "aiohttp_istr.yaml").write_text(_dump_old(_aiohttp(interaction)))
    return folder, base_url, live


FILES = [
    "vcrpy.yaml",
    "vcrpy_json.json",
    "langchain.yaml.gz",
    "old_httpx.yaml",
    "python_tags.yaml",
    "python_iter.yaml",
    "aiohttp_istr.yaml",
]


def test_the_files_are_in_their_original_shapes(shapes: tuple[Path, str, str]) -> None:
    folder = shapes[0]
    assert json.loads((folder / "vcrpy_json.json").read_text())["version"] == 1
    assert gzip.decompress((folder / "langchain.yaml.gz").read_bytes()).startswith(b"interactions:")
    old = (folder / "old_httpx.yaml").read_text()
    assert "status_code: 200" in old and "content: " in old and "status:" not in old
    tags = (folder / "python_tags.yaml").read_text()
    for tag in ("!!python/str", "!!python/unicode", "!!python/tuple", "!!python/object/new:_io.BytesIO"):
        assert tag in tags
    assert "body: !!python/object/apply:builtins.iter" in (folder / "python_iter.yaml").read_text()
    istr = (folder / "aiohttp_istr.yaml").read_text()
    assert "? !!python/object/apply:multidict._multidict.istr" in istr
    assert "? !!python/object/new:multidict._multidict.istr" in istr
    for name in FILES[:-1]:  # vcrpy 9.4 reads every one but the aiohttp one, as REAL-STREAMS.md says
        path = folder / name
        text = gzip.decompress(path.read_bytes()).decode() if name.endswith(".gz") else path.read_text()
        serializer = (
            vcr.serializers.jsonserializer if name.endswith(".json") else vcr.serializers.yamlserializer
        )
        assert deserialize(text, serializer)[0]


def _vcrpy_reads(folder: Path, name: str) -> bytes:
    """The response body vcrpy's own loader reads from ``name`` (each vcrpy recording is its own
    emulator response; the aiohttp one, which vcrpy cannot read, was built from vcrpy.yaml)."""
    path = folder / ("vcrpy.yaml" if name == "aiohttp_istr.yaml" else name)
    text = gzip.decompress(path.read_bytes()).decode() if name.endswith(".gz") else path.read_text()
    serializer = vcr.serializers.jsonserializer if name.endswith(".json") else vcr.serializers.yamlserializer
    response = deserialize(text, serializer)[1][0]
    body = response["body"]["string"] if "body" in response else response["content"]  # older httpx shape
    return body if isinstance(body, bytes) else str(body).encode()


@pytest.mark.parametrize("name", FILES)
def test_load_and_import_read_each_shape(shapes: tuple[Path, str, str], name: str, tmp_path: Path) -> None:
    folder, _, _ = shapes
    reference = load_cassette(folder / "vcrpy.yaml").interactions[0]
    interaction = load_cassette(folder / name).interactions[0]
    assert interaction.response.status == 200 and interaction.response.is_sse
    assert interaction.response.body == _vcrpy_reads(folder, name)
    assert interaction.request.json() == reference.request.json()
    assert interaction.request.method == "POST" and interaction.request.uri == reference.request.uri
    imported = import_cassette(folder / name, tmp_path / "ours.yaml")
    assert imported.metadata["imported_from"] == name and imported.metadata["api"] == "chat"
    # the same file's body: other recordings differ in their `created` second
    assert imported.interactions[0].response.body == interaction.response.body


def test_replay_reads_every_shape(shapes: tuple[Path, str, str]) -> None:
    folder, _, live = shapes
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamproof.cli",
            "replay",
            "--format",
            "json",
            *(str(folder / n) for n in FILES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [Path(line["cassette"]).name for line in lines] == FILES
    assert {line["result"]["text"] for line in lines} == {live}


def test_check_reads_every_shape(shapes: tuple[Path, str, str]) -> None:
    folder, _, _ = shapes
    result = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "check", "--cassettes", str(folder), "--snapshot-update"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    snapshots = sorted(p.name for p in (folder / "__snapshots__").rglob("*.json"))
    assert snapshots == sorted(f"test_conformance[{n.split('.')[0]}#0-snapshot].json" for n in FILES)


def test_the_plugin_replays_every_shape_through_the_sdk(
    shapes: tuple[Path, str, str], tmp_path: Path
) -> None:
    folder, base_url, live = shapes
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_shapes.py").write_text(
        "import os, openai, pytest\n"
        f"FILES = {FILES!r}\n"
        "@pytest.fixture(scope='session')\n"
        "def streamproof_config():\n"
        "    return {'cassette_dir': os.environ['SHAPES']}\n"
        "@pytest.mark.parametrize('name', [pytest.param(n, marks=pytest.mark.cassette(n)) for n in FILES])\n"
        "def test_shape(name, cassette):\n"
        "    client = openai.OpenAI(base_url=os.environ['BASE_URL'], max_retries=0)\n"
        "    stream = client.chat.completions.create(model='gpt-4o-mini', messages=[{'role': 'user', 'content': 'Say hello'}], stream=True)\n"
        "    text = ''.join(c.choices[0].delta.content or '' for c in stream if c.choices)\n"
        "    assert text == os.environ['LIVE'] and not cassette.unplayed\n"
    )
    env = {**os.environ, "SHAPES": str(folder), "BASE_URL": base_url, "LIVE": live, "OPENAI_API_KEY": KEY}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and f"{len(FILES)} passed" in result.stdout, result.stdout


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            "interactions: !!python/object/apply:os.system [echo hi]\nversion: 1\n",
            "could not determine a constructor",
        ),
        (
            "interactions:\n- request: !!python/object/new:collections.OrderedDict []\nversion: 1\n",
            "could not determine a constructor",
        ),
        (
            "interactions:\n- ? !!python/object/apply:multidict._multidict.istr [a, b]\n  : 1\nversion: 1\n",
            "holds one string",
        ),
    ],
)
def test_no_other_python_object_is_built(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(CassetteError, match=problem) as caught:
        load_cassette(path)
    assert str(path) in str(caught.value)


def test_broken_gzip_and_json_name_the_file(tmp_path: Path) -> None:
    cut = tmp_path / "cut.yaml.gz"
    cut.write_bytes(gzip.compress(b"interactions: []\nversion: 1\n")[:-12])
    with pytest.raises(CassetteError, match=r"cut\.yaml\.gz: gzip-compressed but cut short"):
        load_cassette(cut)
    bad = tmp_path / "bad.json"
    bad.write_text('{"interactions": [')
    with pytest.raises(CassetteError, match=r"bad\.json: not valid JSON"):
        load_cassette(bad)


def test_a_gzip_cassette_inflates_only_to_the_limit(tmp_path: Path) -> None:
    from streamproof.harness.cassette import LoadLimits

    bomb = tmp_path / "bomb.yaml.gz"
    bomb.write_bytes(gzip.compress(b"interactions: []\n" + b"#" * 5_000_000 + b"\nversion: 1\n"))
    assert bomb.stat().st_size < 20_000
    with pytest.raises(CassetteError, match=r"bomb\.yaml\.gz: decompresses to more than 100000 bytes"):
        load_cassette(bomb, limits=LoadLimits(cassette_bytes=100_000))


def test_a_yaml_flow_mapping_is_not_taken_for_json(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("{interactions: [], version: 1}\n")  # YAML, not JSON: unquoted keys
    assert load_cassette(path).interactions == []
