"""A real loopback HTTP server for harness tests: streams scripted SSE events with delays.

Each event is written and flushed as its own HTTP/1.1 chunk (TCP_NODELAY), so a client sees the
network chunking a provider would produce. ``gate``: before sending the last event the server waits
(up to 5 s) until the test says the client has seen the first one, and notes whether it had to.
"""

from __future__ import annotations

import gzip as gzip_module
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def openai_events(words: list[str], model: str = "gpt-4o-mini") -> list[bytes]:
    base = {"id": "chatcmpl-loop1", "object": "chat.completion.chunk", "created": 1, "model": model}
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    chunks += [
        {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events = [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks]
    return [*events, b"data: [DONE]\n\n"]


def anthropic_events(words: list[str], model: str = "claude-loopback") -> list[bytes]:
    def event(name: str, data: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    message = {
        "id": "msg_loop1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events = [
        event("message_start", {"message": message}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    events += [
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": w}}) for w in words
    ]
    events += [
        event("content_block_stop", {"index": 0}),
        event(
            "message_delta",
            {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 5}},
        ),
        event("message_stop", {}),
    ]
    return events


@dataclass
class Script:
    events: list[bytes]
    delay: float = 0.0  # seconds between events
    gzip: bool = False
    gate: bool = False
    status: int = 200
    content_type: str = "text/event-stream; charset=utf-8"
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerState:
    script: Script
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    client_saw_first: threading.Event = field(default_factory=threading.Event)
    gate_timed_out: bool | None = None
    last_sent_at: float | None = None


def _handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: object) -> None:
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            state.requests.append(("POST", self.path, dict(self.headers.items()), body))
            script = state.script
            self.send_response(script.status)
            self.send_header("Content-Type", script.content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("x-request-id", "req_loopback")
            self.send_header("openai-organization", "org-secretorganization")
            self.send_header("Set-Cookie", "session=topsecretcookievalue; Path=/")
            for name, value in script.extra_headers.items():
                self.send_header(name, value)
            if script.gzip:
                self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            sink = _Sink()
            compressor = gzip_module.GzipFile(fileobj=sink, mode="wb") if script.gzip else None
            for i, event in enumerate(script.events):
                if i == len(script.events) - 1 and script.gate:
                    state.gate_timed_out = not state.client_saw_first.wait(5)
                elif i and script.delay:
                    time.sleep(script.delay)
                data = event
                if compressor is not None:
                    compressor.write(event)
                    compressor.flush()
                    data = sink.take()
                self._chunk(data)
                if i == len(script.events) - 1:
                    state.last_sent_at = time.monotonic()
            if compressor is not None:
                compressor.close()
                self._chunk(sink.take())
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _chunk(self, data: bytes) -> None:
            if data:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

    return Handler


class _Sink:
    """A write-only file whose contents are taken out after every flush."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


@contextmanager
def serve(script: Script) -> Iterator[tuple[str, ServerState]]:
    """Run the server on 127.0.0.1 (a free port); yields its base URL and its state."""
    state = ServerState(script)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
