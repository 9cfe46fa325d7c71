"""Cassette storage: vcrpy-compatible YAML, lossless text and bytes, atomic writes, corrupt files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx2
import pytest
import vcr
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.adapters.errors import CassetteError
from streamproof.harness import cassette as cassette_module
from streamproof.harness.cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    dump_cassette,
    import_cassette,
    load_cassette,
    new_metadata,
    save_cassette,
)
from streamproof.harness.scrub import Scrubber

URL = "http://127.0.0.1:9/v1/chat/completions"
TRICKY_TEXT = "C1 \x95 NEL \x85 LS \u2028 PS \u2029 CRLF\r\nCR\r tab\t bom \ufeff emoji \U0001f600 esc \x1b nul \x00 end"


def _cassette(path: Path, body: bytes, chunks: list[tuple[int, float]] | None = None) -> Cassette:
    response = RecordedResponse(
        200,
        "OK",
        Headers(
            {"Content-Type": ["text/event-stream"], "Transfer-Encoding": ["chunked"], "Content-Length": ["1"]}
        ),
        body,
        chunks,
    )
    request = RecordedRequest("POST", URL, Headers({"content-type": ["application/json"]}), b'{"model":"m"}')
    return Cassette(
        path, [Interaction(0, request, response)], new_metadata(source="emulator", scenario="text")
    )


def test_round_trip_keeps_text_chunks_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    body = f"data: {TRICKY_TEXT}\n\n".encode()
    chunks = [(5, 0.01), (20, 0.02), (len(body), 0.5)]
    save_cassette(path, _cassette(path, body, chunks))
    loaded = load_cassette(path)
    response = loaded.interactions[0].response
    assert response.body == body
    assert response.chunks == chunks
    assert loaded.metadata["source"] == "emulator" and loaded.metadata["scenario"] == "text"
    assert "recorded_at" in loaded.metadata and "sdk_versions" in loaded.metadata
    # stored decoded: no framing left but a true content-length, never with transfer-encoding
    assert "transfer-encoding" not in response.headers
    assert response.headers["content-length"] == str(len(body))
    raw = yaml.safe_load(path.read_text())
    assert raw["version"] == 1
    assert isinstance(raw["interactions"][0]["response"]["body"]["string"], str)


def test_invalid_utf8_is_stored_as_binary(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    body = b"\xff\xfe\x00binary\x80"
    save_cassette(path, _cassette(path, body))
    assert "!!binary" in path.read_text()
    assert load_cassette(path).interactions[0].response.body == body


@pytest.mark.parametrize("base", ["libyaml", "pure"])
@settings(max_examples=150, deadline=None)
@given(text=st.text())
def test_any_text_round_trips_with_both_yaml_emitters(base: str, text: str) -> None:
    dumper = cassette_module._make_dumper(yaml.CSafeDumper if base == "libyaml" else yaml.SafeDumper)
    dumped = yaml.dump({"s": text}, Dumper=dumper, allow_unicode=True, width=2**31 - 1)
    assert yaml.load(dumped.encode(), Loader=yaml.CSafeLoader)["s"] == text


def test_tricky_text_round_trips_through_save(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    body = TRICKY_TEXT.encode()
    save_cassette(path, _cassette(path, body))
    assert load_cassette(path).interactions[0].response.body == body


def test_plain_vcrpy_replays_our_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    body = f"data: {TRICKY_TEXT}\n\ndata: [DONE]\n\n".encode()
    save_cassette(path, _cassette(path, body, [(10, 0.1), (len(body), 0.2)]))
    with vcr.use_cassette(str(path), record_mode="none"), httpx2.Client() as client:
        response = client.post(URL, content=b'{"model":"m"}')
    assert response.status_code == 200
    assert response.content == body


def test_chunks_are_written_as_two_flat_lists(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette(path, b"abcdef", [(3, 0.1), (6, 0.25)]))
    assert """streamproof_chunks: '{"ends":[3,6],"seconds":[0.1,0.25]}'""" in path.read_text()
    assert load_cassette(path).interactions[0].response.chunks == [(3, 0.1), (6, 0.25)]


def test_chunks_as_a_json_list_of_pairs_also_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette(path, b"abcdef"))
    data = yaml.safe_load(path.read_text())
    data["interactions"][0]["response"]["streamproof_chunks"] = "[[3,0],[6,0.2]]"
    path.write_text(yaml.safe_dump(data))
    chunks = load_cassette(path).interactions[0].response.chunks
    assert chunks == [(3, 0.0), (6, 0.2)] and all(type(t) is float for _, t in chunks or [])


def test_chunks_as_yaml_list_also_load(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette(path, b"abcdef"))
    data = yaml.safe_load(path.read_text())
    data["interactions"][0]["response"]["streamproof_chunks"] = [[3, 0.1], [6, 0.2]]
    path.write_text(yaml.safe_dump(data))
    assert load_cassette(path).interactions[0].response.chunks == [(3, 0.1), (6, 0.2)]


def _corrupt(tmp_path: Path, mutate: object) -> Path:
    path = tmp_path / "corrupt.yaml"
    save_cassette(path, _cassette(path, b"data: x\n\n", [(9, 0.1)]))
    data = yaml.safe_load(path.read_text())
    mutate(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d["interactions"][0].pop("response"), "expected a mapping with 'request' and 'response'"),
        (lambda d: d.pop("interactions"), "no 'interactions' list"),
        (lambda d: d.pop("version"), "truncated"),
        (lambda d: d.update(version=2), "version 2"),
        (lambda d: d["interactions"][0]["response"].update(headers=["a"]), "headers are a list"),
        (lambda d: d["interactions"][0]["response"].update(status={"code": "200"}), "status code"),
        (lambda d: d["interactions"][0]["response"].update(body=42), "body is a int"),
        (lambda d: d["interactions"][0]["request"].pop("uri"), "'uri' missing"),
        (lambda d: d["interactions"][0]["response"].update(streamproof_chunks="[[9,"), "not valid JSON"),
        (
            lambda d: d["interactions"][0]["response"].update(streamproof_chunks="[[5,0.2],[3,0.3]]"),
            "not monotonic",
        ),
        (lambda d: d["interactions"][0]["response"].update(streamproof_chunks="[[99,0.1]]"), "past the body"),
        (
            lambda d: d["interactions"][0]["response"].update(streamproof_chunks='{"ends":[5],"seconds":[]}'),
            "two lists of the same length",
        ),
        (
            lambda d: d["interactions"][0]["response"].update(
                streamproof_chunks='{"ends":[5,3],"seconds":[0.1,0.2]}'
            ),
            "not monotonic at entry 1 [3, 0.2]",
        ),
        (
            lambda d: d["interactions"][0]["response"].update(
                streamproof_chunks='{"ends":[5],"seconds":["x"]}'
            ),
            "entry 0 [5, 'x'] is not [end_offset, seconds]",
        ),
        (
            lambda d: d["interactions"][0]["response"].update(streamproof_chunks='"text"'),
            "is a str, expected an object or a list",
        ),
        (
            lambda d: d["interactions"][0]["response"].update(streamproof_chunks="[7]"),
            "not [end_offset, seconds]",
        ),
        (
            lambda d: d["interactions"][0]["response"]["headers"].update({"content-encoding": ["br"]}),
            "unsupported",
        ),
    ],
)
def test_corrupt_structure_names_file_and_problem(tmp_path: Path, mutate: object, problem: str) -> None:
    path = _corrupt(tmp_path, mutate)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"interactions: [\n  {request: ", "not valid YAML"),
        (b"", "no 'interactions' list"),
        (b"\x00\x01\x02\xff garbage", "not valid YAML"),
        (b"- just\n- a list\n", "no 'interactions' list"),
    ],
)
def test_unreadable_files_name_file_and_problem(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(CassetteError, match=problem) as caught:
        load_cassette(path)
    assert str(path) in str(caught.value)


def test_truncated_file_is_a_cassette_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette(path, b"data: " + b"x" * 500 + b"\n\n", [(100, 0.1), (508, 0.2)]))
    full = path.read_bytes()
    for cut in range(1, len(full) - len("version: 1\n") + 1, 7):
        path.write_bytes(full[:cut])
        with pytest.raises(CassetteError) as caught:
            load_cassette(path)
        assert str(path) in str(caught.value)
    with pytest.raises(CassetteError, match="cannot read"):
        load_cassette(tmp_path / "missing.yaml")


_SLOW_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from streamproof.harness.cassette import (Cassette, Headers, Interaction, RecordedRequest,
                                              RecordedResponse, save_cassette)
    real_fsync = os.fsync
    def slow_fsync(fd):
        print("writing", flush=True)  # the temp file holds the new cassette, not yet renamed
        time.sleep(30)
        real_fsync(fd)
    os.fsync = slow_fsync
    body = b"data: new\\n\\n" * 100000
    request = RecordedRequest("POST", "http://127.0.0.1:9/v1/chat/completions", Headers({}), b"{}")
    response = RecordedResponse(200, "OK", Headers({}), body, None)
    save_cassette(sys.argv[1], Cassette(sys.argv[1], [Interaction(0, request, response)]))
    """
)


def test_sigkill_mid_write_leaves_previous_cassette_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette(path, b"data: old\n\n", [(11, 0.1)]))
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(path)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"writing\n"
        temp_files = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        assert temp_files and temp_files[0].stat().st_size > 1_000_000  # really mid-write of a big cassette
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert load_cassette(path).interactions[0].response.body == b"data: old\n\n"


def test_sigkill_at_random_moments_never_leaves_a_broken_cassette(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    save_cassette(path, _cassette(path, b"data: old\n\n"))
    writer = _SLOW_WRITER.replace("os.fsync = slow_fsync", "")
    for delay in (0.05, 0.3, 0.6):
        proc = subprocess.Popen([sys.executable, "-c", writer, str(path)])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        body = load_cassette(path).interactions[0].response.body  # the old or the new one, whole
        assert body in (b"data: old\n\n", b"data: new\n\n" * 100000)


def test_import_marks_source_and_keeps_bodies(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.yaml"
    foreign.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {
                            "method": "POST",
                            "uri": "https://api.anthropic.com/v1/messages",
                            "body": '{"model":"claude-x"}',
                            "headers": {},
                        },
                        "response": {
                            "status": {"code": 200, "message": "OK"},
                            "headers": {},
                            "body": {"string": "event: ping\ndata: {}\n\n"},
                        },
                    }
                ],
            }
        )
    )
    imported = import_cassette(foreign, tmp_path / "ours.yaml")
    assert imported.metadata["source"] == "imported"
    assert imported.metadata["provider"] == "anthropic" and imported.metadata["model"] == "claude-x"
    assert imported.interactions[0].response.body == b"event: ping\ndata: {}\n\n"


def test_unwritable_destination_is_a_cassette_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    target = blocker / "c.yaml"
    with pytest.raises(CassetteError, match="cannot write") as caught:
        save_cassette(target, _cassette(target, b"x"))
    assert str(target) in str(caught.value)
    directory = tmp_path / "c.yaml"
    directory.mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(CassetteError, match="cannot write"):
        save_cassette(directory, _cassette(directory, b"x"))
    assert sorted(tmp_path.iterdir()) == sorted([blocker, directory])  # no temp file left behind


def test_dump_is_deterministic_apart_from_metadata(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    cassette = _cassette(path, b"data: x\n\n", [(9, 0.1)])
    assert dump_cassette(cassette) == dump_cassette(cassette)
    assert os.path.exists(path) is False  # dumping writes nothing


@settings(max_examples=60, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=299), max_size=6),
)
def test_any_body_and_chunking_survive_save_and_load(body: bytes, cuts: list[int]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "c.yaml"
        ends = sorted({c for c in cuts if c < len(body)} | ({len(body)} if body else set()))
        chunks = [(end, round(i * 0.003, 6)) for i, end in enumerate(ends)] or None
        save_cassette(path, _cassette(path, body, chunks), Scrubber(environ={}))
        response = load_cassette(path).interactions[0].response
    assert response.body == body
    assert response.chunks == chunks


def test_import_of_every_real_cassette_keeps_its_interactions(tmp_path: Path) -> None:
    real = Path(__file__).parents[1].parent / "shared" / "real-cassettes"
    if not real.is_dir():
        pytest.skip("../shared/real-cassettes is not available")
    sources = sorted(real.rglob("*.yaml"))
    assert sources
    for i, source in enumerate(sources):
        foreign = load_cassette(source)
        imported = import_cassette(source, tmp_path / f"{i}.yaml", Scrubber(environ={}))
        assert imported.metadata["source"] == "imported", source
        assert len(imported.interactions) == len(foreign.interactions), source
        for ours, theirs in zip(imported.interactions, foreign.interactions, strict=True):
            assert ours.response.status == theirs.response.status, source
            assert ours.response.body == theirs.response.body, source
            assert ours.request.body == theirs.request.body, source


def test_benchmark_cassettes_load_and_libyaml_is_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from streamproof.benchmarks.cassette_load import libyaml_check, sse_cassette

    size = sse_cassette(tmp_path / "bench.yaml", 0.2)
    response = load_cassette(tmp_path / "bench.yaml").interactions[0].response
    assert len(response.body) == size >= 200_000
    assert response.chunks is not None and len(response.chunks) > 600
    assert libyaml_check(True)["value"] == 1.0 and capsys.readouterr().err == ""
    assert libyaml_check(False)["value"] == 0.0 and "lacks libyaml" in capsys.readouterr().err
    assert cassette_module.HAVE_LIBYAML  # this project's environment must have it (the load target needs it)
