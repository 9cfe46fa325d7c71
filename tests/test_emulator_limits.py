"""The emulator stays up: idle clients are let go, connections are bounded, bad headers get a 400.

Everything runs over real loopback sockets; one test runs ``streamproof emulate`` in a subprocess
whose descriptor limit is lowered, as a small container's would be."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from streamproof.harness.emulator import Emulator

resource = pytest.importorskip("resource")  # POSIX: descriptor limits

CHAT = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}'


def raw_request(port: int, extra_headers: bytes, body: bytes = CHAT, *, length: bool = True) -> bytes:
    """Sends one hand-made request and returns everything the emulator answers before it hangs up
    or finishes one response."""
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nConnection: close\r\n"
    )
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + extra_headers + b"\r\n" + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def status_and_json(reply: bytes) -> tuple[int, Any]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


@pytest.mark.parametrize(
    ("headers", "named", "status"),
    [
        (b"Content-Length: abc\r\n", "Content-Length", 400),
        (b"Content-Length: -5\r\n", "Content-Length", 400),
        (b"Content-Length: 1e3\r\n", "Content-Length", 400),
        (b"Content-Length: 99999999999999\r\n", "Content-Length", 413),
        (b"Transfer-Encoding: chunked\r\n", "Transfer-Encoding", 400),
        (b"x-streamproof-event-delay-ms: soon\r\n", "x-streamproof-event-delay-ms", 400),
        (b"x-streamproof-event-delay-ms: inf\r\n", "x-streamproof-event-delay-ms", 400),
        (b"x-streamproof-event-delay-ms: nan\r\n", "x-streamproof-event-delay-ms", 400),
        (b"x-streamproof-event-delay-ms: -1\r\n", "x-streamproof-event-delay-ms", 400),
        (b"x-streamproof-fault: stall:seconds=inf\r\n", "x-streamproof-fault", 400),
        (b"x-streamproof-fault: stall:seconds=nan\r\n", "x-streamproof-fault", 400),
        (b"x-streamproof-fault: stall:after=1,seconds=1e300\r\n", "x-streamproof-fault", 400),
        (b"x-streamproof-fault: rate_limit:retry_after=1e300\r\n", "x-streamproof-fault", 400),
        (b"x-streamproof-fault: juggling\r\n", "x-streamproof-fault", 400),
    ],
)
def test_a_bad_header_gets_a_json_error_naming_it(
    emulator: Emulator, headers: bytes, named: str, status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    framed = not headers.startswith((b"Content-Length", b"Transfer-Encoding"))
    reply = raw_request(emulator.port, headers, length=framed)
    assert reply, "the emulator dropped the connection without an answer"
    code, body = status_and_json(reply)
    assert code == status and named in body["error"]["message"]
    ok = httpx2.get(emulator.base_url + "/streamproof/identity")  # and it still serves
    assert ok.status_code == 200
    assert "Traceback" not in capsys.readouterr().err


def test_an_idle_client_is_disconnected() -> None:
    with Emulator(idle_timeout=0.2) as emulator:
        for sent in (b"", b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"):
            with socket.create_connection(("127.0.0.1", emulator.port), timeout=5) as sock:
                sock.sendall(sent)  # nothing, or a request that never finishes its body
                assert sock.recv(1024) == b""  # closed by the emulator, long before our 5 s


def test_the_oldest_idle_connection_gives_way_to_a_new_client() -> None:
    with Emulator(max_connections=2) as emulator:
        idle = [socket.create_connection(("127.0.0.1", emulator.port), timeout=5) for _ in range(2)]
        try:
            reply = httpx2.get(emulator.base_url + "/streamproof/identity", timeout=5)
            assert reply.status_code == 200
            assert idle[0].recv(1024) == b""  # the one idle the longest was let go
        finally:
            for sock in idle:
                sock.close()


def test_when_every_connection_is_busy_a_new_client_gets_a_503() -> None:
    with Emulator(max_connections=2) as emulator:
        dispatched = threading.Barrier(3)
        answers: list[bytes] = []

        def stalled() -> None:  # a response that waits 30 s before its status line: a busy connection
            with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
                head = b"POST /v1/chat/completions HTTP/1.1\r\nAuthorization: Bearer k\r\n"
                sock.sendall(
                    head
                    + b"x-streamproof-fault: stall:seconds=30\r\nContent-Length: %d\r\n\r\n" % len(CHAT)
                    + CHAT
                )
                dispatched.wait()
                answers.append(sock.recv(1024))

        threads = [threading.Thread(target=stalled) for _ in range(2)]
        for thread in threads:
            thread.start()
        dispatched.wait()
        reply = httpx2.get(emulator.base_url + "/streamproof/identity", timeout=5)
        assert reply.status_code == 503 and "connections are busy" in reply.json()["error"]["message"]
        assert reply.headers["retry-after"] == "1"
        emulator.stop()  # ends the stalls
        for thread in threads:
            thread.join(timeout=10)


def test_many_idle_connections_under_a_low_descriptor_limit_do_not_stop_a_new_request() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 512:
        pytest.skip(f"this test opens 300 sockets; the descriptor limit is {hard}")
    if soft != resource.RLIM_INFINITY and soft < 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, hard))

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    process = subprocess.Popen(
        [sys.executable, "-m", "streamproof.cli", "emulate", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=low_limit,
    )
    idle: list[socket.socket] = []
    try:
        assert process.stdout is not None
        base = process.stdout.readline().rsplit(" ", 1)[1].strip()
        port = int(base.rsplit(":", 1)[1])
        for _ in range(300):  # connect without blocking: a server that stops accepting must not hang us
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            idle.append(sock)
        pending, deadline = list(idle), time.monotonic() + 5
        while pending and time.monotonic() < deadline:  # the handshakes done: all 300 are there first
            _, writable, _ = select.select([], pending, [], 0.1)
            pending = [sock for sock in pending if sock not in writable]
        reply = httpx2.get(base + "/streamproof/identity", timeout=5)
        assert reply.status_code == 200
        chat = httpx2.post(
            base + "/v1/chat/completions", headers={"authorization": "Bearer k"}, content=CHAT, timeout=5
        )
        assert chat.status_code == 200 and b"data: [DONE]" in chat.content
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "Traceback" not in err, err[-2000:]


def test_a_cassette_that_does_not_load_is_named_and_the_rest_are_served(tmp_path: Path) -> None:
    """One bad cassette in a folder must not stop the emulator from serving the others."""
    import shutil

    from streamproof.conformance.plugin import bundled_cassettes

    shutil.copy(bundled_cassettes() / "openai" / "chat" / "text.yaml", tmp_path / "text.yaml")
    (tmp_path / "broken.yaml").write_text("version: 1\ninteractions: [ {\n", encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamproof.cli", "emulate", "--port", "0", "--cassettes", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on" in first, first + (process.stderr.read() if process.stderr else "")
        base = first.rsplit(" ", 1)[1].strip()
        chat = httpx2.post(
            base + "/v1/chat/completions",
            headers={"authorization": "Bearer k", "x-streamproof-scenario": "text"},
            content=CHAT,
            timeout=5,
        )
        assert chat.status_code == 200 and b"data: [DONE]" in chat.content
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert f"not serving {tmp_path / 'broken.yaml'}:" in err


def test_a_folder_where_no_cassette_loads_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("version: 1\ninteractions: [ {\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "emulate", "--port", "0", "--cassettes", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{tmp_path}: none of its 1 cassettes loads; the first: {tmp_path / 'broken.yaml'}" in done.stderr
