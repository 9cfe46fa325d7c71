"""A small threaded HTTP/1.1 server on 127.0.0.1 that serves ``harness.served.ServedResponse``s.

Each test registers what to serve under a case name and points its SDK client at
``server.base_url(case)``: requests to ``/<case>/...`` get that case's response, chunk by chunk
(chunked transfer encoding, one flush per chunk, each chunk at its ``at`` time), and a response with
``abort`` set loses its connection before the body ends. Every request is kept for inspection.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from streamproof.harness.served import ServedResponse


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that stop reading early (cancellation tests) break the pipe on purpose


class LoopbackServer:
    def __init__(self) -> None:
        self._cases: dict[str, ServedResponse] = {}
        self._names = itertools.count()
        self.requests: dict[str, list[ReceivedRequest]] = {}
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name="loopback-server", daemon=True
        )

    def serve(self, response: ServedResponse) -> str:
        """Registers ``response``; returns the root URL that serves it (add ``/v1`` for OpenAI)."""
        with self._lock:
            case = f"case{next(self._names)}"
            self._cases[case] = response
            self.requests[case] = []
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/{case}"

    def received(self, root_url: str) -> list[ReceivedRequest]:
        return self.requests[root_url.rstrip("/").rsplit("/", 1)[-1]]

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                arrived = time.perf_counter()
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                case = self.path.split("/")[1]
                with server._lock:
                    response = server._cases.get(case)
                    if response is not None:
                        server.requests[case].append(
                            ReceivedRequest(
                                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                            )
                        )
                if response is None:
                    self.send_error(404, f"no case {case!r}")
                    return
                time.sleep(response.stall_before_headers)
                self.send_response(response.status, response.reason or None)
                for name, value in response.headers:
                    self.send_header(name, value)
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for chunk in response.chunks:
                    delay = arrived + chunk.at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk.data), chunk.data))
                    self.wfile.flush()
                if response.abort:
                    self.close_connection = True  # the socket closes with the body unfinished
                    return
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        return Handler
