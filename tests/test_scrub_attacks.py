"""Secrets under attack (issue 9, findings 1-6): URL secrets in any spelling, compressed request
bodies, keys a model echoes across events, keys from any variable, more key shapes, symlink loops,
the trace store's base URL, and the mode of a saved cassette. Every secret here is invented."""

from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import httpx
import httpx2
import openai
import pytest
import yaml
from loopback import LoopbackServer
from loopback_sse import Script, serve

from streamproof.adapters.errors import CassetteError
from streamproof.adapters.formats.openai_chat import OpenAIClient
from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.adapters.llm_config import LLMConfig
from streamproof.adapters.traces import TraceWriter
from streamproof.adapters.traces.model import TraceLLMConfig
from streamproof.adapters.traces.sinks.sqlite import SQLiteSink
from streamproof.cli.main import main as cli_main
from streamproof.harness.cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    import_cassette,
    load_cassette,
    save_cassette,
)
from streamproof.harness.emulator import Emulator, IncomingRequest
from streamproof.harness.recorder import AsyncRecordingTransport, RecordingTransport
from streamproof.harness.scrub import Scrubber, find_secrets
from streamproof.harness.served import ServedChunk, ServedResponse

OPENAI_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"
SHAPELESS = "zq81-veloute-4471-plinth"  # no known shape: only the environment knows it
SSE = (("content-type", "text/event-stream"),)

# Query parameters as services spell them, each with a value of its own (some short).
URL_SECRETS = {
    "apiKey": "Qm7apikeyValue01",
    "API_KEY": "Qm7APIKEYvalue02",
    "Token": "Qm7tokenValue003",
    "X-Amz-Security-Token": "FwoGZXIvYXdzEJr%2F%2F%2Fwo",
    "X-Amz-Signature": "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    "X-Amz-Credential": "AKIAEXAMPLEQM7X%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
    "X-Goog-Signature": "8f1a0c29b7e4d3aa6612",
    "sig": "Zk3%2Bq9",  # an Azure SAS signature, short
    "client_secret": "Qm7clientSecret4",
}
URL_PASSWORD = "pw-Qm7-hunter2"


def _query() -> str:
    return "&".join(f"{name}={value}" for name, value in URL_SECRETS.items())


def _assert_no_url_secret(text: str) -> None:
    for name, value in URL_SECRETS.items():
        assert value not in text, f"{name}={value} survived"
    assert URL_PASSWORD not in text


def _sse(events: list[dict[str, Any]], name: str | None = None) -> list[bytes]:
    head = f"event: {name}\n" if name else ""
    return [f"{head}data: {json.dumps(e, separators=(',', ':'))}\n\n".encode() for e in events]


def _chat_chunks(texts: list[str], tool_args: list[str] | None = None) -> list[bytes]:
    base = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    events += [{**base, "choices": [{"index": 0, "delta": {"content": t}}]} for t in texts]
    if tool_args is not None:
        call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
        events.append({**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
        for piece in tool_args:
            delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            events.append({**base, "choices": [{"index": 0, "delta": delta}]})
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return [*_sse(events), b"data: [DONE]\n\n"]


def _pieces(body: bytes, chunks: list[tuple[int, float]] | None) -> list[bytes]:
    ends = [end for end, _ in chunks or []]
    assert ends == sorted(set(ends)) and ends[-1] == len(body), "chunk ends must cover the body, rising"
    return [body[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


# -- 1. URL query secrets and user:password -------------------------------------------------------


def test_url_secrets_any_case_and_user_password_are_scrubbed_and_scanned(tmp_path: Path) -> None:
    scrubber = Scrubber(environ={})
    uri = f"https://user:{URL_PASSWORD}@api.example.com/v1/chat/completions?model=m&{_query()}#x"
    path = tmp_path / "c.yaml"
    request = RecordedRequest("POST", uri, Headers({}), b"{}")
    save_cassette(
        path, Cassette(path, [Interaction(0, request, RecordedResponse(200, "OK", Headers({}), b"{}"))])
    )
    _assert_no_url_secret(path.read_text())
    cleaned = load_cassette(path).interactions[0].request.uri
    assert cleaned.startswith("https://api.example.com/v1/chat/completions?model=m&apiKey=<REDACTED:")
    # in text (a body, a header value) the same names are found by shape
    text = scrubber.scrub_text(f"see {uri} and http://bob:{URL_PASSWORD}@proxy.local:3128/ ok")
    _assert_no_url_secret(text)
    assert "author=" in scrubber.scrub_text("https://x/y?author=Jane_Austen_1813")  # a name *ending* in one
    assert scrubber.scrub_text("https://x/y?author=Jane_Austen_1813").endswith("Jane_Austen_1813")
    # scan: the same rules
    leak = tmp_path / "leak.txt"
    for name, value in URL_SECRETS.items():
        leak.write_text(f"uri: https://h/p?a=1&{name}={value}\n")
        assert cli_main(["scan", str(leak)]) == 1, name
    leak.write_text(f"uri: http://svc:{URL_PASSWORD}@h/p\n")
    assert cli_main(["scan", str(leak)]) == 1


@pytest.mark.parametrize("library", [httpx2, httpx])
def test_recording_transports_scrub_url_secrets_through_a_redirect(tmp_path: Path, library: Any) -> None:
    with LoopbackServer() as server:
        target = server.serve(ServedResponse(200, SSE, tuple(ServedChunk(c) for c in _chat_chunks(["hi"]))))
        redirect_to = f"{target}/v1/chat/completions?X-Amz-Signature={URL_SECRETS['X-Amz-Signature']}"
        start = server.serve(ServedResponse(307, (("location", redirect_to), ("content-length", "0")), ()))
        host_port = start.split("//", 1)[1]
        path = tmp_path / "redirect.yaml"
        url = f"http://user:{URL_PASSWORD}@{host_port}/v1/chat/completions?{_query()}"
        with library.Client(transport=RecordingTransport(path), follow_redirects=True) as client:
            response = client.post(url, json={"model": "m", "messages": []})
        assert response.status_code == 200 and len(response.history) == 1
    text = path.read_text()
    _assert_no_url_secret(text)
    cassette = load_cassette(path)
    assert [i.response.status for i in cassette.interactions] == [307, 200]  # the redirected request too
    assert "X-Amz-Signature=<REDACTED:url-secret>" in cassette.interactions[1].request.uri
    assert cli_main(["scan", str(path)]) == 0


async def test_async_recording_transport_scrubs_url_secrets(tmp_path: Path) -> None:
    with LoopbackServer() as server:
        root = server.serve(ServedResponse(200, SSE, tuple(ServedChunk(c) for c in _chat_chunks(["hi"]))))
        path = tmp_path / "async.yaml"
        async with httpx2.AsyncClient(transport=AsyncRecordingTransport(path)) as client:
            response = await client.post(f"{root}/v1/chat/completions?{_query()}", json={"model": "m"})
            assert response.status_code == 200
    _assert_no_url_secret(path.read_text())


def test_import_cassette_scrubs_url_secrets(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.yaml"
    uri = f"https://user:{URL_PASSWORD}@api.openai.com/v1/chat/completions?{_query()}"
    interaction = {
        "request": {"method": "POST", "uri": uri, "body": '{"model":"m"}', "headers": {}},
        "response": {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{}"}},
    }
    foreign.write_text(yaml.safe_dump({"version": 1, "interactions": [interaction]}))
    assert cli_main(["scan", str(foreign)]) == 1
    imported = import_cassette(foreign, tmp_path / "ours.yaml")
    _assert_no_url_secret((tmp_path / "ours.yaml").read_text())
    assert imported.interactions[0].request.host == "api.openai.com"


class _Anonymous(Emulator):
    """An OpenAI-compatible server that does not say it is an emulator (stands in for a live one)."""

    def respond(self, request: IncomingRequest) -> ServedResponse:
        if request.path.endswith("/streamproof/identity"):
            return ServedResponse(404, (("content-type", "application/json"),), (ServedChunk(b"{}"),))
        return super().respond(request)


def test_record_base_url_user_password_reaches_neither_cassette_nor_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    with _Anonymous() as server:
        base = server.openai_base_url.replace("http://", f"http://proxyuser:{URL_PASSWORD}@")
        args = ["record", "--api", "chat", "--scenario", "text", "--base-url", base, "--out", str(tmp_path)]
        assert cli_main(args) == 0
    path = tmp_path / "openai" / "chat" / "text.yaml"
    _assert_no_url_secret(path.read_text())
    assert load_cassette(path).interactions[0].request.uri.startswith(server.base_url)
    out = capsys.readouterr()
    assert URL_PASSWORD not in out.out + out.err


# -- 2. compressed request bodies, binary metadata, secrets as metadata keys ----------------------


def _compressed_request_body(tmp_path: Path, encoding: str, body: bytes) -> Path:
    events = _chat_chunks(["ok"])
    path = tmp_path / f"{encoding}.yaml"
    with serve(Script(events)) as (url, state):
        with httpx2.Client(transport=RecordingTransport(path)) as client:
            response = client.post(
                f"{url}/v1/chat/completions",
                content=body,
                headers={"content-type": "application/json", "content-encoding": encoding},
            )
            assert response.status_code == 200
        assert state.requests[0][3] == body  # the server got it compressed
    return path


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b)[2:-4])],
    ids=["gzip", "deflate", "raw-deflate"],
)
def test_a_compressed_request_body_is_decoded_then_scrubbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str, compress: Any
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", SHAPELESS)
    plain = json.dumps({"model": "m", "messages": [{"role": "user", "content": f"{OPENAI_KEY} {SHAPELESS}"}]})
    path = _compressed_request_body(tmp_path, encoding, compress(plain.encode()))
    text = path.read_text()
    assert OPENAI_KEY not in text and SHAPELESS not in text and "!!binary" not in text
    request = load_cassette(path).interactions[0].request
    assert request.json()["model"] == "m"  # stored decoded, readable
    assert "<REDACTED:" in request.json()["messages"][0]["content"]
    assert "content-encoding" not in {name.lower() for name in request.headers}
    assert cli_main(["scan", str(path)]) == 0


def test_a_request_body_that_cannot_be_decoded_is_not_written(tmp_path: Path) -> None:
    try:
        import brotli  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        brotli = None
    plain = json.dumps({"model": "m", "k": OPENAI_KEY}).encode()
    if brotli is not None:  # decodable here: decoded and scrubbed like gzip
        path = _compressed_request_body(tmp_path, "br", brotli.compress(plain))
        assert OPENAI_KEY not in path.read_text()
    else:
        with pytest.raises(CassetteError, match=r"brotli package .* not installed.*not written"):
            _compressed_request_body(tmp_path, "br", gzip.compress(plain))  # any non-text bytes
        assert not (tmp_path / "br.yaml").exists()
    with pytest.raises(CassetteError, match="'zz-custom' cannot be decoded; it cannot be scrubbed"):
        _compressed_request_body(tmp_path, "zz-custom", gzip.compress(plain))
    with pytest.raises(CassetteError, match=r"gzip body .*not written"):
        _compressed_request_body(tmp_path, "gzip", gzip.compress(plain)[:-12] + b"\xff\xfe")
    assert not (tmp_path / "zz-custom.yaml").exists()


def test_a_compressed_request_body_is_decoded_within_the_body_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMPROOF_MAX_BODY_BYTES", "4096")
    bomb = gzip.compress(b'{"model":"m","pad":"' + b"0" * 100_000 + b'"}')  # 100 KB from a few hundred bytes
    with pytest.raises(CassetteError, match=r"gzip body unpacks past 4096 bytes.*not written"):
        _compressed_request_body(tmp_path, "gzip", bomb)
    assert not (tmp_path / "gzip.yaml").exists()


def test_binary_metadata_values_and_secret_metadata_keys_are_scrubbed(tmp_path: Path) -> None:
    path = tmp_path / "meta.yaml"
    interaction = Interaction(
        0,
        RecordedRequest("POST", "https://api.openai.com/v1/chat/completions", Headers({}), b"{}"),
        RecordedResponse(200, "OK", Headers({}), b"{}"),
    )
    metadata = {
        "note": f"key {OPENAI_KEY}".encode(),  # bytes: !!binary on disk
        "blob": b"\xff\xfe" + OPENAI_KEY.encode(),  # not UTF-8: stays binary, scrubbed
        OPENAI_KEY: "a key used as a key",
        "nested": [{SHAPELESS: 1}],
    }
    save_cassette(path, Cassette(path, [interaction], metadata), Scrubber(extra_secrets={"s": SHAPELESS}))
    text = path.read_text()
    assert cli_main(["scan", str(path)]) == 0
    loaded = load_cassette(path).metadata
    for value in (loaded["note"], loaded["blob"]):
        raw = value if isinstance(value, bytes) else value.encode()
        assert OPENAI_KEY.encode() not in raw and b"<REDACTED:" in raw
    assert all(OPENAI_KEY not in str(key) for key in loaded) and SHAPELESS not in text
    assert "<REDACTED:openai-project-key>" in loaded


# -- 3. a key echoed across the events of a stream ------------------------------------------------


def _split(value: str, *sizes: int) -> list[str]:
    out, at = [], 0
    for size in sizes:
        out.append(value[at : at + size])
        at += size
    return [*out, value[at:]]


@pytest.mark.parametrize(
    "case",
    ["text-token-by-token", "text-in-two", "tool-arguments", "env-secret-in-arguments"],
)
def test_a_key_echoed_across_sse_events_does_not_survive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", SHAPELESS)
    secret = SHAPELESS if case == "env-secret-in-arguments" else OPENAI_KEY
    halves = [secret[: len(secret) // 2], secret[len(secret) // 2 :]]
    if case == "text-token-by-token":
        events = _chat_chunks(["Your key is ", *_split(secret, 2, 1, 4, 3, 5, 2, 6, 3), "."])
    elif case == "text-in-two":
        events = _chat_chunks(["Your key is ", halves[0], halves[1] + " - keep it."])
    else:
        arguments = json.dumps({"note": "x", "key": secret})
        events = _chat_chunks(["calling"], tool_args=_split(arguments, 12, 9, 7, 11, 4))
    path = tmp_path / "echo.yaml"
    with serve(Script(events)) as (url, _):
        http = httpx2.Client(transport=RecordingTransport(path))
        client = openai.OpenAI(api_key="sk-test-dummy", base_url=f"{url}/v1", http_client=http, max_retries=0)
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        for _ in stream:
            pass
        client.close()
    text = path.read_text()
    for part in (secret, *halves):
        assert part not in text, f"{part!r} survived"
    [interaction] = load_cassette(path).interactions  # loads: the chunk offsets are consistent
    response = interaction.response
    decoder = SSEDecoder()
    datas = [d for piece in _pieces(response.body, response.chunks) for _, d, _ in decoder.feed(piece)]
    datas += [d for _, d, _ in decoder.close()]
    assert datas[-1] == "[DONE]" and all(json.loads(d) for d in datas[:-1])
    assert len(response.chunks or []) == len(events)  # still one chunk per event
    assert cli_main(["scan", str(path)]) == 0
    capsys.readouterr()
    assert cli_main(["replay", "--format", "json", str(path)]) == 0
    [line] = capsys.readouterr().out.splitlines()
    result = json.loads(line)["result"]
    printed = result["text"] + "".join(call["arguments"] for call in result["tool_calls"])
    assert "<REDACTED:" in printed
    for part in (secret, *halves):
        assert part not in line
    if result["tool_calls"]:
        assert json.loads(result["tool_calls"][0]["arguments"])["note"] == "x"  # arguments still JSON


def test_a_key_split_across_anthropic_and_responses_deltas_is_redacted() -> None:
    halves = [OPENAI_KEY[:14], OPENAI_KEY[14:]]
    messages = _sse(
        [
            {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
            *(
                {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": h}}
                for h in halves
            ),
            *(
                {
                    "type": "content_block_delta",
                    "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": p},
                }
                for p in _split(json.dumps({"k": OPENAI_KEY}), 9, 10)
            ),
        ],
        "content_block_delta",
    )
    responses = _sse(
        [
            {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": d}
            for d in _split(OPENAI_KEY, 8, 8, 8)
        ]
        + [
            {"type": "response.output_text.delta", "output_index": 1, "content_index": 0, "delta": "sk-"},
            {"type": "response.output_text.done", "output_index": 0, "content_index": 0, "text": OPENAI_KEY},
        ]
    )
    scrubber = Scrubber(environ={})
    for events in (messages, responses):
        body = b"".join(events)
        ends, total = [], 0
        for i, event in enumerate(events):
            total += len(event)
            ends.append((total, i * 0.01))
        new_body, chunks = scrubber.scrub_body(body, ends)
        for part in (OPENAI_KEY, *halves, OPENAI_KEY[8:16], OPENAI_KEY[16:24]):
            assert part.encode() not in new_body
        assert len(_pieces(new_body, chunks)) == len(events)
        assert b'"delta":"sk-"' in new_body or events is messages  # another stream's piece is its own
        assert scrubber.scrub_body(new_body, chunks) == (new_body, chunks)  # idempotent


# -- 4. record --key-env NAME -------------------------------------------------------------------


class _EchoesTheKey(_Anonymous):
    """A live-looking server whose error message repeats the key it was sent (as some do)."""

    def respond(self, request: IncomingRequest) -> ServedResponse:
        if request.path.endswith("/chat/completions"):
            key = request.headers.get("authorization", "").removeprefix("Bearer ")
            body = json.dumps({"error": {"message": f"Incorrect API key provided: {key}", "type": "auth"}})
            return ServedResponse(401, (("content-type", "application/json"),), (ServedChunk(body.encode()),))
        return super().respond(request)


def test_record_key_env_value_is_a_secret_whatever_the_variable_is_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "q7-velvet-lantern-0042-orbit"  # no known shape, in a variable named like nothing secret
    monkeypatch.setenv("GROQ_SESAME", key)
    with _EchoesTheKey() as server:
        args = [
            "record",
            "--api",
            "chat",
            "--scenario",
            "text",
            "--provider",
            "groq",
            "--key-env",
            "GROQ_SESAME",
        ]
        cli_main([*args, "--base-url", server.openai_base_url, "--out", str(tmp_path)])
    path = tmp_path / "groq" / "chat" / "text.yaml"
    body = load_cassette(path).interactions[0].response.body
    assert b"Incorrect API key provided: <REDACTED:" in body
    assert key not in path.read_text()


# -- 5. more key shapes; symlink loops ------------------------------------------------------------

SHAPES = {
    "groq-key": "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",
    "github-pat": "github_pat_11ABCDEFG0123456789abc_Qm7xYz0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
    "huggingface-token": "hf_Qm7aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFg",
    "xai-key": "xai-Qm7aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567",
    "slack-token": "xoxb-1234567890-0987654321-Qm7aBcDeFgHiJkLmNoPq",
    "stripe-key": "sk_live_51Qm7aBcDeFgHiJkLmNoPqRsTuVwXyZ",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJRbTciLCJpYXQiOjE3MDAwMDAwMDB9.Qm7sIgNaTuRe_aBcDeFgHiJkLmNoPqRsTuVwXyZ012",
}
NAMED = {  # shapes known only by the name beside them, and credentials in lower case
    "azure-key": ("api-key: ", "0123456789abcdef0123456789abcdef"),
    "aws-secret-key": ("aws_secret_access_key = ", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYQm7EXAMPLE"),
    "bearer-token": ("authorization: bearer ", "qm7token0123abcd.efgh"),
    "basic-credentials": ("Authorization: Basic ", "c3ZjOnFtNy1odW50ZXIy"),
}


def test_scan_and_scrubber_know_more_key_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scrubber = Scrubber(environ={})
    leak = tmp_path / "leak.txt"
    cases = [(kind, value, f"x {value} y") for kind, value in SHAPES.items()]
    cases += [(kind, value, f"{name}{value}\n") for kind, (name, value) in NAMED.items()]
    cases += [
        (
            "azure-key",
            "fedcba9876543210fedcba9876543210",
            "headers:\n  api-key:\n  - fedcba9876543210fedcba9876543210\n",
        )
    ]
    cases += [("aws-access-key", "ASIAQM7EXAMPLE123456", '"AccessKeyId": "ASIAQM7EXAMPLE123456"')]
    cases += [("bearer-token", "qm7tok3n.abcdefgh", "bearer qm7tok3n.abcdefgh")]
    for kind, value, text in cases:
        leak.write_text(text)
        capsys.readouterr()
        assert cli_main(["scan", str(leak)]) == 1, kind
        assert f":{kind}" in capsys.readouterr().out or kind in {"bearer-token", "basic-credentials"}
        assert value not in scrubber.scrub_text(text), kind
        assert any(True for _ in find_secrets(text.encode(), {}))
    # prose and ids that look a little alike are left alone
    clean = tmp_path / "clean.txt"
    clean.write_text(
        "the bearer of bad news; Basic information; the hf_ prefix; ask xai-what\n"
        "sha 0123456789abcdef0123456789abcdef; a task-0123456789abcdefghij;\n"
        "eyJhbGciOiJub25lIn0 alone; ?author=Jane_Austen_1813\n"
    )
    assert cli_main(["scan", str(clean)]) == 0, capsys.readouterr().out


def test_bundled_cassettes_still_scan_clean() -> None:
    bundled = Path(__file__).parents[1] / "cassettes"
    assert cli_main(["scan", str(bundled)]) == 0


def test_scan_follows_no_directory_twice(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leak.txt").write_text(f"k {OPENAI_KEY}\n")
    (tree / "sub" / "again").symlink_to(tree, target_is_directory=True)  # two loops back up
    (tree / "sub" / "top").symlink_to(tree, target_is_directory=True)
    (tree / "alias").symlink_to(tree / "sub", target_is_directory=True)
    run = subprocess.run(
        [sys.executable, "-m", "streamproof.cli.main", "scan", str(tree)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines() == [f"{tree / 'alias' / 'leak.txt'}:1:openai-project-key"]


# -- 6. the trace store's base URL; the mode of a saved cassette ----------------------------------


async def test_the_trace_store_keeps_no_base_url_credentials(tmp_path: Path) -> None:
    from streamproof.adapters.adapter import LLMStreamAdapter

    with LoopbackServer() as server:
        root = server.serve(ServedResponse(200, SSE, tuple(ServedChunk(c) for c in _chat_chunks(["hi"]))))
        base = root.replace("http://", f"http://proxyuser:{URL_PASSWORD}@") + "/v1"
        sink = SQLiteSink(tmp_path / "traces.db")
        writer = TraceWriter(sink)
        client = OpenAIClient(api_key="sk-trace-test", base_url=base, max_retries=0)
        config = LLMConfig(model="m", provider="openai", base_url=base)
        try:
            result = await LLMStreamAdapter(client, config, "agent_step", trace_writer=writer).complete(
                {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            )
        finally:
            await client.aclose()
        await writer.aclose()
        assert result.text == "hi"
        assert (
            server.received(root)[0].headers["authorization"].startswith("Basic ")
        )  # the user info was used
    (stored,) = sink.recent(5)
    assert stored.llm_config.endpoint == f"{root}/v1"
    raw = (tmp_path / "traces.db").read_bytes()
    assert URL_PASSWORD.encode() not in raw
    with_query = TraceLLMConfig(endpoint=f"https://u:{URL_PASSWORD}@gw.example/openai?{_query()}")
    assert with_query.endpoint is not None and with_query.endpoint.startswith("https://gw.example/openai?")
    _assert_no_url_secret(with_query.endpoint)
    assert TraceLLMConfig(endpoint="https://api.openai.com/v1").endpoint == "https://api.openai.com/v1"


def test_saving_keeps_the_file_mode_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    interaction = Interaction(
        0,
        RecordedRequest("POST", "https://api.openai.com/v1/chat/completions", Headers({}), b"{}"),
        RecordedResponse(200, "OK", Headers({}), b"{}"),
    )
    existing = tmp_path / "shared.yaml"
    existing.write_text("x")
    existing.chmod(0o664)
    save_cassette(existing, Cassette(existing, [interaction]))
    assert stat.S_IMODE(existing.stat().st_mode) == 0o664
    existing.chmod(0o640)
    save_cassette(existing, Cassette(existing, [interaction]))
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "new.yaml"
        save_cassette(fresh, Cassette(fresh, [interaction]))
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert load_cassette(fresh).interactions[0].response.status == 200
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_replay_prints_no_key_from_a_cassette_written_without_scrubbing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A foreign (or old) cassette may still hold an echoed key: replay's output does not."""
    body = b"".join(_chat_chunks(["Your key is ", *_split(OPENAI_KEY, 5, 7, 9), "."])).decode()
    interaction = {
        "request": {
            "method": "POST",
            "uri": "https://api.openai.com/v1/chat/completions",
            "body": json.dumps({"model": "m", "stream": True, "messages": []}),
            "headers": {},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"content-type": ["text/event-stream"]},
            "body": {"string": body},
        },
    }
    foreign = tmp_path / "foreign.yaml"
    foreign.write_text(yaml.safe_dump({"version": 1, "interactions": [interaction]}))
    for output in ("json", "text"):
        capsys.readouterr()
        assert cli_main(["replay", "--format", output, str(foreign)]) == 0
        printed = capsys.readouterr().out
        assert "Your key is <REDACTED:openai-project-key>." in printed.replace("\n", "")
        assert OPENAI_KEY not in printed


def test_scan_sees_into_binary_blobs_of_a_foreign_cassette(tmp_path: Path) -> None:
    """A foreign cassette's gzip request body is a ``!!binary`` blob: scan decodes it; the import
    stores it decoded and scrubbed."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": OPENAI_KEY}]}).encode()
    interaction = {
        "request": {
            "method": "POST",
            "uri": "https://api.openai.com/v1/chat/completions",
            "body": gzip.compress(body),
            "headers": {"Content-Encoding": ["gzip"], "Content-Type": ["application/json"]},
        },
        "response": {
            "status": {"code": 200, "message": "OK"},
            "headers": {"Content-Encoding": ["gzip"]},
            "body": {"string": gzip.compress(b'{"ok": true}')},
        },
    }
    foreign = tmp_path / "foreign.yaml"
    foreign.write_text(yaml.safe_dump({"version": 1, "interactions": [interaction]}))
    assert "!!binary" in foreign.read_text() and OPENAI_KEY not in foreign.read_text()
    assert cli_main(["scan", str(foreign)]) == 1
    ours = tmp_path / "ours.yaml"
    imported = import_cassette(foreign, ours)
    assert "!!binary" not in ours.read_text() and OPENAI_KEY not in ours.read_text()
    assert imported.interactions[0].request.json()["model"] == "m"
    assert cli_main(["scan", str(ours)]) == 0
