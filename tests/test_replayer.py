"""Replay: matching and misses, the blocked network, chunking, pace, decoded/gzip serving, shaped faults."""

from __future__ import annotations

import dataclasses
import gzip
import socket
import time
from pathlib import Path

import httpx
import httpx2
import openai
import orjson
import pytest
import yaml

from streamproof.adapters.errors import CassetteError
from streamproof.harness.cassette import (
    Cassette,
    Headers,
    Interaction,
    RecordedRequest,
    RecordedResponse,
    load_cassette,
    save_cassette,
)
from streamproof.harness.rechunk import at_events
from streamproof.harness.replayer import NoMatchingInteraction, use_cassette
from streamproof.harness.served import ServedChunk, ServedResponse, served_from_interaction

URL = "https://api.openai.com/v1/chat/completions"
REAL_CASSETTES = Path(__file__).parents[1].parent / "shared" / "real-cassettes"
EVENTS = [f'data: {{"n":{i},"text":"caf\u00e9 {i}"}}\n\n'.encode() for i in range(6)] + [b"data: [DONE]\n\n"]
BODY = b"".join(EVENTS)


def _request_body(content: str = "hi", user: str = "u1") -> dict[str, object]:
    return {
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "metadata": {"user_id": user},
        "messages": [{"role": "user", "content": content}],
    }


def _write(path: Path, *, bodies: list[dict[str, object]] | None = None, gap: float = 0.0) -> Path:
    ends, total = [], 0
    for i, event in enumerate(EVENTS):
        total += len(event)
        ends.append((total, round(0.01 + i * gap, 6)))
    interactions = [
        Interaction(
            index=i,
            request=RecordedRequest(
                "POST", URL, Headers({"content-type": ["application/json"]}), orjson.dumps(body)
            ),
            response=RecordedResponse(
                200, "OK", Headers({"content-type": ["text/event-stream"]}), BODY, ends
            ),
        )
        for i, body in enumerate(bodies or [_request_body()])
    ]
    save_cassette(path, Cassette(path, interactions))
    return path


def test_matching_request_replays_and_ignore_paths_apply(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")
    with use_cassette(path, ignore_paths=["stream_options", "metadata.user_id"]) as cassette:
        with httpx2.Client(transport=cassette.transport()) as client:
            body = _request_body(user="someone-else")
            body["stream_options"] = {"include_usage": False}
            response = client.post(URL, json=body)
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["content-length"] == str(len(BODY))
    assert "transfer-encoding" not in response.headers


def test_miss_names_nearest_interaction_and_first_differing_json_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", bodies=[_request_body("hello"), _request_body("good morning")])
    with use_cassette(path, ignore_paths=["metadata.user_id"]) as cassette:
        with httpx2.Client(transport=cassette.transport()) as client:
            with pytest.raises(NoMatchingInteraction) as caught:
                client.post(URL, json=_request_body("good evening"))
    message = str(caught.value)
    assert str(path) in message
    assert "nearest is interaction 0" in message or "nearest is interaction 1" in message
    assert "first difference at messages[0].content" in message
    assert "sent 'good evening'" in message


def test_miss_on_path_and_replaying_twice(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")
    with use_cassette(path) as cassette, httpx2.Client(transport=cassette.transport()) as client:
        with pytest.raises(
            NoMatchingInteraction, match="first difference at path: recorded '/v1/chat/completions'"
        ):
            client.post("https://api.openai.com/v1/responses", json=_request_body())
        client.post(URL, json=_request_body())
        with pytest.raises(NoMatchingInteraction, match=r"interaction 0 .* already played"):
            client.post(URL, json=_request_body())


def test_mode_none_never_opens_a_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "c.yaml")
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise AssertionError(f"replay opened a socket to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    with use_cassette(path) as cassette:
        client = openai.OpenAI(
            api_key="sk-test", http_client=httpx2.Client(transport=cassette.transport()), max_retries=0
        )
        chunks = list(
            client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                stream=True,
                stream_options={"include_usage": True},
                metadata={"user_id": "u1"},
                messages=[{"role": "user", "content": "hi"}],
            ).http_response.iter_bytes()
        )
        assert b"".join(chunks) == BODY
        with pytest.raises(NoMatchingInteraction, match="first difference at model"):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "new"}])
    assert attempts == []


def test_bad_options_are_cassette_errors(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="no such cassette"), use_cassette(tmp_path / "missing.yaml"):
        pass
    path = _write(tmp_path / "c.yaml")
    with pytest.raises(CassetteError, match="record mode must be one of"), use_cassette(path, "sometimes"):  # type: ignore[arg-type]
        pass
    with pytest.raises(CassetteError, match="pace must be"), use_cassette(path, pace=-1.0):
        pass
    with pytest.raises(CassetteError, match="unknown chunking 'lines'"), use_cassette(path, chunking="lines"):  # type: ignore[arg-type]
        pass


def test_all_played_tracks_the_cassette(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", bodies=[_request_body("a"), _request_body("b")])
    with use_cassette(path) as cassette, httpx2.Client(transport=cassette.transport()) as client:
        client.post(URL, json=_request_body("b"))
        assert not cassette.player.all_played
        client.post(URL, json=_request_body("a"))
        assert cassette.player.all_played


@pytest.mark.parametrize("library", [httpx2, httpx])
def test_chunking_modes(tmp_path: Path, library: object) -> None:
    path = _write(tmp_path / "c.yaml")

    def raw_chunks(**options: object) -> list[bytes]:
        with use_cassette(path, **options) as cassette:  # type: ignore[arg-type]
            with library.Client(transport=cassette.transport()) as client:  # type: ignore[attr-defined]
                with client.stream("POST", URL, json=_request_body()) as response:
                    return list(response.iter_raw())

    assert raw_chunks() == EVENTS  # recorded boundaries
    assert raw_chunks(chunking="events") == at_events(BODY)
    assert raw_chunks(chunking="bytes") == [BODY[i : i + 1] for i in range(len(BODY))]
    seeded = raw_chunks(chunking="random", seed=7)
    assert b"".join(seeded) == BODY and len(seeded) > len(EVENTS)
    assert raw_chunks(chunking="random", seed=7) == seeded
    assert raw_chunks(chunking="random", seed=8) != seeded


def test_gzip_on_the_wire(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")
    with (
        use_cassette(path, gzip_wire=True) as cassette,
        httpx2.Client(transport=cassette.transport()) as client,
    ):
        with client.stream("POST", URL, json=_request_body()) as response:
            decoded = [chunk for chunk in response.iter_bytes() if chunk]
            raw_length = response.num_bytes_downloaded
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == raw_length
    assert b"".join(decoded) == BODY
    assert decoded[0] == EVENTS[0]  # each chunk decodes as it arrives (sync flush)


def test_foreign_gzip_and_double_framing_are_served_decoded(tmp_path: Path) -> None:
    path = tmp_path / "foreign.yaml"
    compressed = gzip.compress(BODY)
    data = {
        "version": 1,
        "interactions": [
            {
                "request": {"method": "POST", "uri": URL, "body": None, "headers": {}},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Encoding": ["gzip"], "Content-Type": ["text/event-stream"]},
                    "body": {"string": compressed},
                },
            },
            {
                "request": {"method": "POST", "uri": URL, "body": None, "headers": {}},
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"content-length": ["999"], "transfer-encoding": ["chunked"]},
                    "body": {"string": BODY.decode()},
                },
            },
        ],
    }
    path.write_text(yaml.safe_dump(data))
    with use_cassette(path) as cassette, httpx2.Client(transport=cassette.transport()) as client:
        for _ in range(2):
            response = client.post(URL)
            assert response.content == BODY
            assert "content-encoding" not in response.headers
            assert "transfer-encoding" not in response.headers
            assert response.headers["content-length"] == str(len(BODY))


def test_recorded_and_scaled_pace(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml", gap=0.04)  # 6 gaps of 40 ms

    def duration(pace: object) -> float:
        with (
            use_cassette(path, pace=pace) as cassette,
            httpx2.Client(transport=cassette.transport()) as client,
        ):  # type: ignore[arg-type]
            started = time.monotonic()
            client.post(URL, json=_request_body())
            return time.monotonic() - started

    instant, recorded, half = duration("instant"), duration("recorded"), duration(0.5)
    assert instant < 0.1
    assert 0.24 <= recorded < 0.6  # 0.25 s of recorded gaps; the upper bound only allows for a busy machine
    assert 0.12 <= half < 0.4 and half < recorded * 0.8


def _shaped(path: Path, shape: object, **options: object) -> httpx2.Response:
    with use_cassette(path, shape=shape, **options) as cassette:  # type: ignore[arg-type]
        with httpx2.Client(transport=cassette.transport(), timeout=httpx2.Timeout(5.0, read=0.2)) as client:
            response = client.post(URL, json=_request_body())
            return response


def test_shape_hook_serves_a_changed_status(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")

    def rate_limited(interaction: Interaction) -> ServedResponse:
        served = served_from_interaction(interaction)
        chunk = ServedChunk(b'{"error":{"type":"rate_limit"}}')
        return dataclasses.replace(served, status=429, chunks=(chunk,)).with_headers(retry_after="3")

    response = _shaped(path, rate_limited)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["type"] == "rate_limit"


def test_abort_cuts_the_connection_after_the_last_chunk(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")

    def cut(interaction: Interaction) -> ServedResponse:
        served = served_from_interaction(interaction)
        return dataclasses.replace(served, chunks=served.chunks[:2], abort=True)

    with use_cassette(path, shape=cut) as cassette, httpx2.Client(transport=cassette.transport()) as client:
        with client.stream("POST", URL, json=_request_body()) as response:
            received = []
            with pytest.raises(httpx2.RemoteProtocolError):
                for chunk in response.iter_raw():
                    received.append(chunk)
    assert received == EVENTS[:2]


def test_stalls_beyond_the_read_timeout_raise_read_timeout_without_waiting(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")

    def slow_headers(interaction: Interaction) -> ServedResponse:
        return dataclasses.replace(served_from_interaction(interaction), stall_before_headers=30.0)

    def stall_mid_stream(interaction: Interaction) -> ServedResponse:
        served = served_from_interaction(interaction)
        late = tuple(ServedChunk(c.data, c.at + 60.0) for c in served.chunks[3:])
        return dataclasses.replace(served, chunks=served.chunks[:3] + late)

    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        _shaped(path, slow_headers)
    with use_cassette(path, shape=stall_mid_stream) as cassette:
        with httpx2.Client(transport=cassette.transport(), timeout=httpx2.Timeout(5.0, read=0.2)) as client:
            with client.stream("POST", URL, json=_request_body()) as response:
                received = []
                with pytest.raises(httpx2.ReadTimeout):
                    for chunk in response.iter_raw():
                        received.append(chunk)
    assert received == EVENTS[:3]
    assert time.monotonic() - started < 1.0  # instant pace: judged on recorded times, no waiting


def test_stall_at_recorded_pace_waits_for_the_read_timeout(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.yaml")

    def slow_headers(interaction: Interaction) -> ServedResponse:
        return dataclasses.replace(served_from_interaction(interaction), stall_before_headers=30.0)

    started = time.monotonic()
    with pytest.raises(httpx2.ReadTimeout):
        _shaped(path, slow_headers, pace="recorded")
    assert 0.2 <= time.monotonic() - started < 1.0


@pytest.mark.parametrize("library", [httpx2, httpx])
async def test_async_replay(tmp_path: Path, library: object) -> None:
    path = _write(tmp_path / "c.yaml")
    with use_cassette(path, chunking="events") as cassette:
        async with library.AsyncClient(transport=cassette.async_transport()) as client:  # type: ignore[attr-defined]
            async with client.stream("POST", URL, json=_request_body()) as response:
                chunks = [chunk async for chunk in response.aiter_raw()]
            with pytest.raises(NoMatchingInteraction):
                await client.post(URL, json=_request_body("other"))
    assert chunks == at_events(BODY)


def test_real_cassettes_replay_their_bodies() -> None:
    if not REAL_CASSETTES.is_dir():
        pytest.skip("../shared/real-cassettes is not available")
    paths = sorted(REAL_CASSETTES.rglob("*.yaml"))
    assert paths
    for path in paths:
        recorded = load_cassette(path).interactions
        with use_cassette(path) as cassette, httpx2.Client(transport=cassette.transport()) as client:
            for interaction in recorded:
                request = interaction.request
                response = client.request(request.method, request.uri, content=request.body or b"")
                assert response.status_code == interaction.response.status, path
                assert response.content == interaction.response.body, path


@pytest.mark.parametrize("scale", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("read_timeout", [None, 0.05])
@pytest.mark.parametrize(
    "body, chunks, content_type",
    [
        (b"data: a\n\ndata: b\n\ndata: c\n\n", [(9, 0.01), (18, 0.02), (27, 0.2)], "text/event-stream"),
        (
            b"data: a\n\ndata: b\n\ntail",
            [(9, 0.0), (18, 0.03)],
            "text/event-stream",
        ),  # bytes past the last end
        (b"data: a\n\ndata: b\n\n", None, "text/event-stream"),  # no recorded chunks: cut at events
        (b'{"ok": true}', None, "application/json"),
        (b"", None, "application/json"),
    ],
)
def test_recorded_steps_made_lazily_equal_the_prepared_ones(
    body: bytes,
    chunks: list[tuple[int, float]] | None,
    content_type: str,
    scale: float,
    read_timeout: float | None,
) -> None:
    """The replay transports cut a recorded response as the client reads it; what they serve is
    what the full preparation (``served_from_interaction`` then ``prepared``) gives."""
    from streamproof.harness import replayer
    from streamproof.harness.cassette import Headers, Interaction, RecordedRequest, RecordedResponse

    interaction = Interaction(
        0,
        RecordedRequest("POST", "https://api.openai.com/v1/chat/completions", Headers({}), b"{}"),
        RecordedResponse(200, "OK", Headers({"content-type": [content_type]}), body, chunks),
    )
    eager = replayer._steps(
        replayer.prepared(replayer.served_from_interaction(interaction), replayer.ReplayOptions()),
        scale,
        read_timeout,
    )
    assert list(replayer._recorded_steps(interaction.response, scale, read_timeout)) == eager
