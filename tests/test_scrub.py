"""No secret reaches a cassette on any write path; user filters only extend the defaults; scan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from streamproof.adapters.framing.sse import SSEDecoder
from streamproof.cli.main import main as cli_main
from streamproof.harness.cassette import Cassette, load_cassette, save_cassette
from streamproof.harness.recorder import RecordingTransport
from streamproof.harness.replayer import use_cassette
from streamproof.harness.scrub import Scrubber, ScrubConfigError, SecretShape, env_secrets

SECRETS = {
    "OPENAI_API_KEY": "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z",
    "LEGACY_OPENAI_KEY": "sk-Zy9xWv8uTs7rQp6oNm5lKj4iHg3fEd2cBa1",
    "ANTHROPIC_API_KEY": "sk-ant-api03-Qw3eRt5yUi7oPa9sDf1gHj3kLz5xCv7bNm9-AbCdEf",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "MY_SERVICE_TOKEN": "zq81-veloute-4471-plinth",  # no known shape: only the environment knows it
}
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.dGhpcw"
URL_SECRET = "Jq8WmZ2xPv5KtR9s"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def _secret_values() -> list[str]:
    return [*SECRETS.values(), BEARER.split()[1], URL_SECRET]


def _leaky_body() -> bytes:
    """An SSE body that echoes every secret inside JSON strings (as a buggy proxy might)."""
    events: list[dict[str, object]] = [
        {"n": i, "text": f"leak {v} here"} for i, v in enumerate(SECRETS.values())
    ]
    events.append(
        {"auth": BEARER}
    )  # bare tokens have no shape: only "Bearer ..." and "?token=..." give them away
    events.append({"next": f"https://example.com/page?token={URL_SECRET}&n=2"})
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"


class _Chunks(httpx2.SyncByteStream):
    def __init__(self, body: bytes, size: int) -> None:
        self._body, self._size = body, size

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self._body), self._size):
            yield self._body[i : i + self._size]


def _leaky_server(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(
        200,
        headers={
            "content-type": "text/event-stream",
            "x-request-id": "req_123",
            "set-cookie": f"s={SECRETS['MY_SERVICE_TOKEN']}",
            "openai-organization": "org-private",
            "openai-project": "proj_private",
            "x-custom-debug": SECRETS["OPENAI_API_KEY"],
            "location": f"https://example.com/cb?access_token={URL_SECRET}",
        },
        stream=_Chunks(_leaky_body(), 7),  # secrets split across chunk boundaries
    )


def _send(client: httpx2.Client, text: str) -> bytes:
    response = client.post(
        f"https://api.openai.com/v1/chat/completions?api_key={URL_SECRET}",
        headers={
            "authorization": f"Bearer {SECRETS['OPENAI_API_KEY']}",
            "x-api-key": SECRETS["ANTHROPIC_API_KEY"],
            "api-key": SECRETS["MY_SERVICE_TOKEN"],
            "cookie": "a=b",
        },
        json={
            "model": "m",
            "messages": [{"role": "user", "content": f"{text} {SECRETS['AWS_ACCESS_KEY_ID']}"}],
        },
    )
    return response.content


def _assert_clean(path: Path) -> None:
    text = path.read_text()
    for value in _secret_values():
        assert value not in text, f"{value} leaked into {path.name}"
    for header in ("authorization", "x-api-key", "api-key", "cookie", "set-cookie", "openai-organization"):
        assert f"\n      {header}:" not in text.lower()
    assert "org-private" not in text and "proj_private" not in text
    cassette = load_cassette(path)  # offsets still consistent (the loader checks them)
    for interaction in cassette.interactions:
        response = interaction.response
        assert "x-request-id" in response.headers and "x-custom-debug" not in response.headers
        if response.is_sse:
            decoder = SSEDecoder()
            events = [e for chunk in _pieces(response.body, response.chunks) for e in decoder.feed(chunk)]
            events += decoder.close()
            datas = [data for _, data, _ in events]
            assert datas[-1] == "[DONE]"
            assert all(json.loads(data) for data in datas[:-1])  # every event still valid JSON
            assert "<REDACTED:" in datas[0]
    assert cli_main(["scan", str(path)]) == 0


def _pieces(body: bytes, chunks: list[tuple[int, float]] | None) -> list[bytes]:
    ends = [end for end, _ in chunks or []]
    assert ends == sorted(set(ends)) and (not ends or ends[-1] == len(body))
    starts = [0, *ends[:-1]]
    return [body[a:b] for a, b in zip(starts, ends, strict=True)] if ends else [body]


def test_every_write_path_is_scrubbed(tmp_path: Path, secret_env: dict[str, str]) -> None:
    path = tmp_path / "c.yaml"
    inner = httpx2.MockTransport(_leaky_server)
    # first record: the caller still gets the real (unscrubbed) bytes
    with httpx2.Client(transport=RecordingTransport(path, inner)) as client:
        assert SECRETS["MY_SERVICE_TOKEN"].encode() in _send(client, "first")
    _assert_clean(path)
    # new_episodes append
    with use_cassette(path, mode="new_episodes") as cassette:
        with httpx2.Client(transport=cassette.transport(inner)) as client:
            _send(client, "first")
            _send(client, "second")
    assert len(load_cassette(path).interactions) == 2
    _assert_clean(path)
    # re-record with mode all
    with (
        use_cassette(path, mode="all") as cassette,
        httpx2.Client(transport=cassette.transport(inner)) as client,
    ):
        _send(client, "first")
    assert len(load_cassette(path).interactions) == 2
    _assert_clean(path)
    # rewrite after editing
    cassette = load_cassette(path)
    late = f"data: {json.dumps({'late': SECRETS['ANTHROPIC_API_KEY']})}\n\n".encode()
    response = cassette.interactions[0].response
    response.body = response.body.replace(b"data: [DONE]", late + b"data: [DONE]")
    save_cassette(path, cassette)
    _assert_clean(path)


def test_import_of_a_foreign_cassette_is_scrubbed(tmp_path: Path, secret_env: dict[str, str]) -> None:
    from streamproof.harness.cassette import import_cassette

    foreign = tmp_path / "foreign.yaml"
    body = _leaky_body().decode()
    foreign.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "interactions": [
                    {
                        "request": {
                            "method": "POST",
                            "uri": f"https://api.openai.com/v1/chat/completions?key={URL_SECRET}",
                            "body": json.dumps({"model": "m", "k": SECRETS["LEGACY_OPENAI_KEY"]}),
                            "headers": {
                                "Authorization": [BEARER],
                                "X-Api-Key": [SECRETS["ANTHROPIC_API_KEY"]],
                            },
                        },
                        "response": {
                            "status": {"code": 200, "message": "OK"},
                            "headers": {"Content-Type": ["text/event-stream"], "x-request-id": ["r1"]},
                            "body": {"string": body},
                        },
                    }
                ],
            }
        )
    )
    assert cli_main(["scan", str(foreign)]) == 1
    imported = import_cassette(foreign, tmp_path / "ours.yaml")
    assert imported.metadata["source"] == "imported"
    _assert_clean(tmp_path / "ours.yaml")


def test_scan_reports_file_line_and_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "clean.yaml").write_text("body: <REDACTED:openai-key> and sk-short\n")
    (tmp_path / "sub" / "leak.yaml").write_text(f"a: 1\nb: 2\nkey: {SECRETS['ANTHROPIC_API_KEY']}\n")
    assert cli_main(["scan", str(tmp_path / "clean.yaml")]) == 0
    assert cli_main(["scan", str(tmp_path)]) == 1
    assert capsys.readouterr().out.strip() == f"{tmp_path / 'sub' / 'leak.yaml'}:3:anthropic-key"
    assert cli_main(["scan", str(tmp_path / "missing")]) == 2


def test_scan_finds_environment_secrets_of_no_known_shape(
    tmp_path: Path, secret_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f.txt").write_text(f"token is {SECRETS['MY_SERVICE_TOKEN']}\n")
    assert cli_main(["scan", str(tmp_path)]) == 1
    assert capsys.readouterr().out.strip().endswith(":1:env:MY_SERVICE_TOKEN")


def test_user_filters_extend_and_cannot_remove_defaults(tmp_path: Path) -> None:
    with pytest.raises(ScrubConfigError, match="authorization"):
        Scrubber(allow_headers=["Authorization"])
    key = SECRETS["OPENAI_API_KEY"]

    def put_the_key_back(body: bytes) -> bytes:  # a user filter that "undoes" scrubbing
        return body + key.encode()

    scrubber = Scrubber(
        extra_shapes=[SecretShape("internal-id", r"INT-[0-9]{6}")],
        extra_secrets={"customer": "acme-corp-private"},
        allow_headers=["x-custom-debug"],
        drop_headers=["x-request-id"],
        body_filters=[put_the_key_back],
        environ={},
    )
    body = scrubber.scrub_bytes(b"id INT-123456 for acme-corp-private ")
    assert body == b"id <REDACTED:internal-id> for <REDACTED:customer> <REDACTED:openai-project-key>"
    headers = scrubber.scrub_headers({"X-Custom-Debug": [key], "x-request-id": ["r"], "Cookie": ["c"]})
    assert headers == {"X-Custom-Debug": ["<REDACTED:openai-project-key>"]}
    # save_cassette with a user scrubber still applies the defaults
    path = tmp_path / "c.yaml"
    from streamproof.harness.cassette import Headers, Interaction, RecordedRequest, RecordedResponse

    interaction = Interaction(
        0,
        RecordedRequest("POST", "https://x/v1/messages", Headers({"authorization": [BEARER]}), None),
        RecordedResponse(200, "OK", Headers({}), f"leak {SECRETS['AWS_ACCESS_KEY_ID']}".encode()),
    )
    save_cassette(
        path, Cassette(path, [interaction]), Scrubber(extra_shapes=[SecretShape("x", "zzz")], environ={})
    )
    assert SECRETS["AWS_ACCESS_KEY_ID"] not in path.read_text() and BEARER not in path.read_text()


def test_environment_secrets_are_found_percent_encoded_and_json_escaped() -> None:
    scrubber = Scrubber(environ={"PARTNER_SECRET": "a+b/c=d&e f9"})
    uri = "https://partner.example/v1?x=a%2Bb%2Fc%3Dd%26e%20f9&y=1"
    assert scrubber.scrub_text(uri) == "https://partner.example/v1?x=<REDACTED:env:PARTNER_SECRET>&y=1"
    assert scrubber.scrub_text("raw a+b/c=d&e f9.") == "raw <REDACTED:env:PARTNER_SECRET>."
    escaped = Scrubber(environ={"PARTNER_SECRET": 'quote"back\\slash-ü-9'})
    body = json.dumps({"echo": 'quote"back\\slash-ü-9'})
    assert json.loads(escaped.scrub_text(body)) == {"echo": "<REDACTED:env:PARTNER_SECRET>"}
    body = json.dumps({"echo": 'quote"back\\slash-ü-9'}, ensure_ascii=False)
    assert json.loads(escaped.scrub_text(body)) == {"echo": "<REDACTED:env:PARTNER_SECRET>"}


def test_environment_secret_names_and_values() -> None:
    found = env_secrets(
        {
            "OPENAI_API_KEY": "sk-x" * 5,
            "GITHUB_TOKEN": "ghp_x" * 3,
            "DEBUG": "verylongvalue",
            "API_KEY": "short",
        }
    )
    assert set(found) == {"OPENAI_API_KEY", "GITHUB_TOKEN"}


_piece = st.one_of(st.sampled_from([*SECRETS.values(), "Bearer abcdefghijklmnop"]), st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(
    parts=st.lists(_piece, max_size=12), cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8)
)
def test_chunk_offsets_follow_replacements(parts: list[str], cuts: list[int]) -> None:
    body = " ".join(parts).encode()
    ends = sorted({c for c in cuts if c < len(body)} | ({len(body)} if body else set()))
    chunks = [(end, i * 0.01) for i, end in enumerate(ends)]
    scrubber = Scrubber(environ=SECRETS)
    new_body, new_chunks = scrubber.scrub_body(body, chunks)
    assert new_body == scrubber.scrub_bytes(body)
    for value in SECRETS.values():
        assert value.encode() not in new_body
    if body:
        assert new_chunks is not None
        new_ends = [end for end, _ in new_chunks]
        assert new_ends == sorted(set(new_ends)) and new_ends[-1] == len(new_body) and new_ends[0] > 0
        times = [t for _, t in new_chunks]
        assert times == sorted(times)
    assert scrubber.scrub_body(new_body, new_chunks) == (new_body, new_chunks)  # idempotent
