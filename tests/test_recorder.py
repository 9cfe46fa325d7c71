"""Recording through the real SDKs against a real loopback server: tee, chunk timing, modes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai
import pytest
import vcr
from loopback_sse import Script, anthropic_events, openai_events, serve

from streamproof.adapters.errors import CassetteError
from streamproof.harness.cassette import load_cassette
from streamproof.harness.recorder import AsyncRecordingTransport, CassetteRecorder, RecordingTransport
from streamproof.harness.replayer import NoMatchingInteraction, use_cassette

WORDS = ["Hello", ",", " streaming", " world", "!"]
FAKE_OPENAI_KEY = "sk-proj-FAKEfakeFAKEfake0123456789abcdef"
FAKE_ANTHROPIC_KEY = "sk-ant-api03-FAKEfakeFAKEfake0123456789abcdef-xyz"


def _ends(events: list[bytes]) -> list[int]:
    ends, total = [], 0
    for event in events:
        total += len(event)
        ends.append(total)
    return ends


def test_openai_sdk_recording_tees_first_chunk_before_server_sends_last(tmp_path: Path) -> None:
    events = openai_events(WORDS)
    path = tmp_path / "chat.yaml"
    with serve(Script(events, delay=0.03, gate=True)) as (url, server):
        http = httpx2.Client(transport=RecordingTransport(path))
        client = openai.OpenAI(api_key=FAKE_OPENAI_KEY, base_url=f"{url}/v1", http_client=http, max_retries=0)
        text = []
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for chunk in stream:
            server.client_saw_first.set()
            text.append(chunk.choices[0].delta.content or "")
        client.close()
    assert "".join(text) == "".join(WORDS)
    assert server.gate_timed_out is False  # the SDK saw the first chunk while the server held the last one
    cassette = load_cassette(path)
    [interaction] = cassette.interactions
    response = interaction.response
    assert response.body == b"".join(events)
    assert response.chunks is not None
    assert [end for end, _ in response.chunks] == _ends(events)
    times = [t for _, t in response.chunks]
    assert times == sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(times[1:-1])]
    assert all(0.02 <= gap <= 0.5 for gap in gaps), gaps
    assert interaction.request.json()["model"] == "gpt-4o-mini"
    assert cassette.metadata["source"] == "live"
    assert cassette.metadata["provider"] == "openai"
    assert cassette.metadata["sdk_versions"]["openai"] == openai.__version__
    text_on_disk = path.read_text()
    for secret in (FAKE_OPENAI_KEY, "org-secretorganization", "topsecretcookievalue"):
        assert secret not in text_on_disk
    assert "authorization" not in text_on_disk.lower()


def test_anthropic_sdk_recording_keeps_chunks(tmp_path: Path) -> None:
    events = anthropic_events(WORDS)
    path = tmp_path / "messages.yaml"
    with serve(Script(events, delay=0.02, gate=True)) as (url, server):
        http = httpx2.Client(transport=RecordingTransport(path))
        client = anthropic.Anthropic(
            api_key=FAKE_ANTHROPIC_KEY, base_url=url, http_client=http, max_retries=0
        )
        text = []
        with client.messages.create(
            model="claude-loopback", max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True
        ) as stream:
            for event in stream:
                server.client_saw_first.set()
                if event.type == "content_block_delta":
                    text.append(event.delta.text)
        client.close()
    assert "".join(text) == "".join(WORDS)
    assert server.gate_timed_out is False
    [interaction] = load_cassette(path).interactions
    assert [end for end, _ in interaction.response.chunks or []] == _ends(events)
    assert interaction.provider == "anthropic" and interaction.api == "messages"
    assert FAKE_ANTHROPIC_KEY not in path.read_text()


async def test_async_openai_recording(tmp_path: Path) -> None:
    events = openai_events(WORDS)
    path = tmp_path / "async.yaml"
    with serve(Script(events, delay=0.01)) as (url, _server):
        http = httpx2.AsyncClient(transport=AsyncRecordingTransport(path))
        client = openai.AsyncOpenAI(
            api_key=FAKE_OPENAI_KEY, base_url=f"{url}/v1", http_client=http, max_retries=0
        )
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = [chunk.choices[0].delta.content or "" async for chunk in stream]
        await client.close()
    assert "".join(text) == "".join(WORDS)
    [interaction] = load_cassette(path).interactions
    assert interaction.response.body == b"".join(events)
    assert [end for end, _ in interaction.response.chunks or []] == _ends(events)


def test_plain_httpx_client_and_gzip_body_recorded_decoded(tmp_path: Path) -> None:
    events = openai_events(WORDS)
    path = tmp_path / "gzip.yaml"
    with serve(Script(events, delay=0.01, gzip=True)) as (url, _server):
        with httpx.Client(transport=RecordingTransport(path)) as client:
            with client.stream(
                "POST", f"{url}/v1/chat/completions", json={"model": "m", "stream": True}
            ) as response:
                received = b"".join(response.iter_bytes())
    assert received == b"".join(events)
    [interaction] = load_cassette(path).interactions
    assert interaction.response.body == b"".join(events)
    assert "content-encoding" not in interaction.response.headers
    chunks = interaction.response.chunks or []
    assert chunks[-1][0] == len(b"".join(events)) and len(chunks) >= len(events)


def test_caller_that_stops_early_still_gets_a_complete_recording(tmp_path: Path) -> None:
    events = openai_events(WORDS)
    path = tmp_path / "early.yaml"
    with serve(Script(events, delay=0.005)) as (url, _server):
        with httpx2.Client(transport=RecordingTransport(path)) as client:
            with client.stream("POST", f"{url}/v1/chat/completions", json={"model": "m"}) as response:
                first = next(response.iter_bytes())
    assert first == events[0]
    assert load_cassette(path).interactions[0].response.body == b"".join(events)


def test_plain_vcrpy_replays_a_recorded_cassette_through_the_sdk(tmp_path: Path) -> None:
    events = openai_events(WORDS)
    path = tmp_path / "vcr.yaml"
    with serve(Script(events)) as (url, _server):
        http = httpx2.Client(transport=RecordingTransport(path))
        client = openai.OpenAI(api_key=FAKE_OPENAI_KEY, base_url=f"{url}/v1", http_client=http, max_retries=0)
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        for _ in client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "again"}], stream=True
        ):
            pass
        client.close()
    # the server is gone: only the cassette can answer now
    with vcr.use_cassette(str(path), record_mode="none"):
        client = openai.OpenAI(api_key="sk-other", base_url=f"{url}/v1", max_retries=0)
        stream = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "".join(WORDS)
        client.close()


def test_replay_at_recorded_timing_reproduces_the_gaps(tmp_path: Path) -> None:
    events = openai_events(WORDS)
    path = tmp_path / "timing.yaml"
    with serve(Script(events, delay=0.05)) as (url, _server):
        with httpx2.Client(transport=RecordingTransport(path)) as client:
            with client.stream("POST", f"{url}/v1/chat/completions", json={"model": "m"}) as response:
                response.read()
    recorded = [t for _, t in load_cassette(path).interactions[0].response.chunks or []]
    with (
        use_cassette(path, pace="recorded") as cassette,
        httpx2.Client(transport=cassette.transport()) as client,
    ):
        started = time.monotonic()
        with client.stream("POST", f"{url}/v1/chat/completions", json={"model": "m"}) as response:
            arrivals = [time.monotonic() - started for _ in response.iter_bytes()]
    assert len(arrivals) == len(recorded)
    # each chunk is due at its recorded offset from the first one (not from the previous one, so
    # one late wake-up on a busy machine does not shift the rest)
    for want, got in zip(recorded, arrivals, strict=True):
        assert abs((want - recorded[0]) - (got - arrivals[0])) < 0.04, (recorded, arrivals)
    assert arrivals[-1] - arrivals[0] >= (recorded[-1] - recorded[0]) - 0.01


def _post(client: httpx2.Client, url: str, content: str) -> bytes:
    response = client.post(f"{url}/v1/chat/completions", json={"model": "m", "messages": [content]})
    return response.content


def test_record_modes_once_new_episodes_all(tmp_path: Path) -> None:
    path = tmp_path / "modes.yaml"
    with serve(Script(openai_events(["one"]))) as (url, server):
        with (
            use_cassette(path, mode="once") as cassette,
            httpx2.Client(transport=cassette.transport()) as client,
        ):
            _post(client, url, "a")  # no file yet: "once" records
        assert len(load_cassette(path).interactions) == 1
        with (
            use_cassette(path, mode="once") as cassette,
            httpx2.Client(transport=cassette.transport()) as client,
        ):
            assert b"one" in _post(client, url, "a")  # file exists: replayed
            with pytest.raises(NoMatchingInteraction):
                _post(client, url, "b")  # ... and nothing new is recorded
        assert len(server.requests) == 1

        server.script = Script(openai_events(["two"]))
        with (
            use_cassette(path, mode="new_episodes") as cassette,
            httpx2.Client(transport=cassette.transport()) as client,
        ):
            assert b"one" in _post(client, url, "a")  # replayed
            assert b"two" in _post(client, url, "b")  # recorded and appended
        assert len(server.requests) == 2
        bodies = [i.request.json()["messages"] for i in load_cassette(path).interactions]
        assert bodies == [["a"], ["b"]]

        server.script = Script(openai_events(["three"]))
        with (
            use_cassette(path, mode="all") as cassette,
            httpx2.Client(transport=cassette.transport()) as client,
        ):
            assert b"three" in _post(client, url, "a")  # never replayed: sent again
        assert len(server.requests) == 3
        interactions = load_cassette(path).interactions
        assert [i.request.json()["messages"] for i in interactions] == [["b"], ["a"]]
        assert b"three" in interactions[1].response.body  # the re-recorded one replaced the old "a"


def test_intercept_records_and_replays_clients_a_library_builds(tmp_path: Path) -> None:
    path = tmp_path / "intercepted.yaml"
    with serve(Script(openai_events(WORDS))) as (url, _server):
        with use_cassette(path, mode="once") as cassette, cassette.intercept():
            client = openai.OpenAI(api_key=FAKE_OPENAI_KEY, base_url=f"{url}/v1", max_retries=0)
            for _ in client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "x"}], stream=True
            ):
                pass
            client.close()
    assert len(load_cassette(path).interactions) == 1
    with use_cassette(path) as cassette, cassette.intercept():
        client = openai.OpenAI(api_key=FAKE_OPENAI_KEY, base_url=f"{url}/v1", max_retries=0)
        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}], stream=True
        )
        assert "".join(c.choices[0].delta.content or "" for c in stream) == "".join(WORDS)
        client.close()
    assert httpx2.HTTPTransport.handle_request.__name__ == "handle_request"
    assert "streamproof" not in httpx2.HTTPTransport.handle_request.__qualname__


_WRITER = textwrap.dedent(
    """
    import sys
    import httpx2
    from streamproof.harness.recorder import CassetteRecorder, RecordingTransport

    path, tag = sys.argv[1], sys.argv[2]
    body = ("data: " + tag + "\\n\\n").encode() * 200
    inner = httpx2.MockTransport(lambda request: httpx2.Response(200, content=body,
                                 headers={"content-type": "text/event-stream"}))
    with httpx2.Client(transport=RecordingTransport(CassetteRecorder(path), inner)) as client:
        for i in range(25):
            client.post("http://127.0.0.1:1/v1/chat/completions", json={"model": tag, "n": i}).read()
    """
)


def test_two_processes_recording_to_different_cassettes_do_not_interfere(tmp_path: Path) -> None:
    paths = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), tag])
        for path, tag in zip(paths, ("alpha", "beta"), strict=True)
    ]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    for path, tag in zip(paths, ("alpha", "beta"), strict=True):
        interactions = load_cassette(path).interactions
        assert [json.loads(i.request.body or b"")["n"] for i in interactions] == list(range(25))
        assert all(i.response.body == f"data: {tag}\n\n".encode() * 200 for i in interactions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]  # no temp files left


def test_recorder_appending_keeps_existing_interactions(tmp_path: Path) -> None:
    path = tmp_path / "append.yaml"
    inner = httpx2.MockTransport(lambda request: httpx2.Response(200, content=request.content))
    for round_ in range(2):
        recorder = CassetteRecorder.appending(path)
        with httpx2.Client(transport=RecordingTransport(recorder, inner)) as client:
            client.post("http://127.0.0.1:1/x", content=f"round {round_}".encode())
    assert [i.response.body for i in load_cassette(path).interactions] == [b"round 0", b"round 1"]


async def test_intercept_async_clients_of_both_libraries(tmp_path: Path) -> None:
    path = tmp_path / "async-intercepted.yaml"
    events = openai_events(WORDS)
    with serve(Script(events, delay=0.005)) as (url, server):
        with use_cassette(path, mode="new_episodes") as cassette, cassette.intercept():
            async with httpx2.AsyncClient() as client:
                first = await client.post(f"{url}/v1/chat/completions", json={"model": "a"})
            async with httpx.AsyncClient() as client:
                second = await client.post(f"{url}/v1/chat/completions", json={"model": "b"})
        assert len(server.requests) == 2
    assert first.content == second.content == b"".join(events)
    interactions = load_cassette(path).interactions
    assert [i.request.json()["model"] for i in interactions] == ["a", "b"]
    assert all([end for end, _ in i.response.chunks or []] == _ends(events) for i in interactions)
    with use_cassette(path) as cassette, cassette.intercept():  # server gone: replayed
        async with httpx.AsyncClient() as client:
            replayed = await client.post(f"{url}/v1/chat/completions", json={"model": "b"})
    assert replayed.content == b"".join(events)


def test_error_status_is_recorded_and_replays_as_the_same_sdk_error(tmp_path: Path) -> None:
    path = tmp_path / "overloaded.yaml"
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    script = Script([body], status=529, content_type="application/json", extra_headers={"retry-after": "2"})

    def call(client: anthropic.Anthropic) -> anthropic.APIStatusError:
        with pytest.raises(anthropic.APIStatusError) as caught:
            client.messages.create(
                model="claude-loopback", max_tokens=8, messages=[{"role": "user", "content": "x"}]
            )
        return caught.value

    with serve(script) as (url, _server):
        http = httpx2.Client(transport=RecordingTransport(path))
        recorded = call(
            anthropic.Anthropic(api_key=FAKE_ANTHROPIC_KEY, base_url=url, http_client=http, max_retries=0)
        )
    with use_cassette(path) as cassette:
        http = httpx2.Client(transport=cassette.transport())
        replayed = call(
            anthropic.Anthropic(api_key=FAKE_ANTHROPIC_KEY, base_url=url, http_client=http, max_retries=0)
        )
    assert recorded.status_code == replayed.status_code == 529
    assert type(recorded) is type(replayed)
    assert replayed.response.headers["retry-after"] == "2"
    assert replayed.body == recorded.body


class _GzipChunks(httpx2.SyncByteStream):
    """A gzip body sent in sync-flushed pieces, one per event."""

    def __init__(self, events: list[bytes], encoding: str) -> None:
        self._events, self._encoding = events, encoding

    def __iter__(self) -> Iterator[bytes]:
        compressor = zlib.compressobj(
            wbits=16 + zlib.MAX_WBITS if self._encoding == "gzip" else zlib.MAX_WBITS
        )
        for event in self._events:
            yield compressor.compress(event) + compressor.flush(zlib.Z_SYNC_FLUSH)
        yield compressor.flush()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_encoded_bodies_are_recorded_decoded_per_chunk(tmp_path: Path, encoding: str) -> None:
    events = openai_events(WORDS)
    inner = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200,
            headers={"content-type": "text/event-stream", "content-encoding": encoding},
            stream=_GzipChunks(events, encoding),
        )
    )
    path = tmp_path / f"{encoding}.yaml"
    with httpx2.Client(transport=RecordingTransport(path, inner)) as client:
        assert client.post("http://127.0.0.1:1/v1/chat/completions", json={}).content == b"".join(events)
    response = load_cassette(path).interactions[0].response
    assert "content-encoding" not in response.headers
    assert response.body == b"".join(events)
    assert [end for end, _ in response.chunks or []] == _ends(events)  # decoded chunk by chunk


def test_an_encoding_the_client_cannot_read_is_not_written(tmp_path: Path) -> None:
    """Bytes no one can decode cannot be scrubbed: the recording fails clearly, nothing is written."""
    inner = httpx2.MockTransport(
        lambda request: httpx2.Response(
            200, headers={"content-encoding": "x-unknown"}, stream=_GzipChunks([b"a"], "gzip")
        )
    )
    path = tmp_path / "unknown.yaml"
    with pytest.raises(CassetteError, match="'x-unknown' cannot be decoded; it cannot be scrubbed"):
        with (
            httpx2.Client(transport=RecordingTransport(path, inner)) as client,
            client.stream("POST", "http://127.0.0.1:1/x") as r,
        ):
            r.read()
    assert not path.exists()


def test_threads_recording_into_one_cassette_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "threads.yaml"
    recorder = CassetteRecorder(path)
    inner = httpx2.MockTransport(lambda request: httpx2.Response(200, content=request.content))

    def worker(thread: int) -> None:
        with httpx2.Client(transport=RecordingTransport(recorder, inner)) as client:
            for i in range(5):
                client.post("http://127.0.0.1:1/v1/chat/completions", json={"thread": thread, "i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorded = {
        (body["thread"], body["i"])
        for body in (json.loads(i.response.body) for i in load_cassette(path).interactions)
    }
    assert recorded == {(t, i) for t in range(6) for i in range(5)}
