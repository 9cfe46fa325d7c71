"""A local HTTP/1.1 provider emulator on real sockets.

Routes: ``POST /v1/chat/completions`` (OpenAI Chat), ``POST /v1/responses`` (OpenAI Responses),
``POST /v1/messages`` (Anthropic Messages); any prefix before ``/v1`` is accepted; and Bedrock's
``POST /model/{modelId}/invoke-with-response-stream`` and ``/invoke`` (AWS event-stream frames; the
SigV4 signature is not checked). Point the OpenAI SDK at ``<base>/v1``, the Anthropic SDK and
``AnthropicBedrock`` at ``<base>``. Each path's format is ``harness/formats``'s. ``GET /streamproof/identity`` answers
``{"emulator": "streamproof", ...}``, and every response carries ``x-streamproof-emulator``, so a
recorder can tell an emulator from a live provider.

What it answers:

- **scripted** (default): the scenario named by the ``x-streamproof-scenario`` header, else by a
  model called ``streamproof-<scenario>``, else ``text`` (see ``harness/scenarios.py``). A streamed
  request (``stream: true``; Bedrock's path) gets the format's stream, otherwise the JSON body.
- **cassettes** (``cassettes=DIR``): the recorded response of the cassette whose scenario (its
  ``streamproof.scenario`` metadata, else its file name) and API match, else the interaction whose
  request body equals this one; served with the recorded chunking and timing.

Like the real services it wants a key (``Authorization: Bearer …`` or ``x-api-key``; any value),
a model, and Anthropic's ``max_tokens``. Faults (``harness/faults.py``) apply to every response when
the emulator is started with one, or per request with an ``x-streamproof-fault: SPEC`` header.
Streams are sent with chunked transfer encoding, one flush per SSE event, ``TCP_NODELAY``;
``event_delay`` (or the ``x-streamproof-event-delay-ms`` header) spaces events out. With
``gzip_sse`` an SSE body goes gzip-compressed to clients that accept it, each event sync-flushed,
as real Anthropic streams arrive.

It stays up under careless or hostile clients: a header it cannot use (``Content-Length``, the
delay or fault header) gets a 400 naming it; a client that sends nothing for ``idle_timeout``
seconds is disconnected; at most ``max_connections`` connections are served at once (each holds a
thread), the oldest idle one giving way to a new client, and a 503 when all are busy.
"""

from __future__ import annotations

import errno
import hashlib
import math
import random
import socket
import sys
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from ...adapters.errors import CassetteError
from ..cassette import Cassette, Interaction, load_cassette
from ..faults import STATUS_FAULTS, Fault, FaultError, apply_fault, parse_fault
from ..foreign_shapes import cassette_files, cassette_stem
from ..formats import FORMATS, HarnessFormat, format_for_path
from ..scenarios import CATALOGUE, SCENARIO_HEADER, SCENARIO_MODEL_PREFIX, Failure, ScenarioError, scenario
from ..served import ServedChunk, ServedResponse, served_from_interaction
from ..wire import ErrorReply, WireContext

EMULATOR_HEADER = "x-streamproof-emulator"
EMULATOR_VERSION = "1"
FAULT_HEADER = "x-streamproof-fault"
DELAY_HEADER = "x-streamproof-event-delay-ms"
IDENTITY_PATH = "/streamproof/identity"
IDLE_TIMEOUT_S = 30.0  # a client silent this long (between or inside requests) is disconnected
MAX_CONNECTIONS = 128  # connections served at once; fewer when the descriptor limit is low
MAX_BODY_BYTES = 64 * 1024 * 1024  # far above any scenario's request (the emulated overflow is ~100 KB)
MAX_EVENT_DELAY_MS = 60_000.0
SLOT_WAIT_S = 0.5  # how long a new client waits for an evicted idle connection to free its slot


def default_max_connections() -> int:
    """``MAX_CONNECTIONS``, or half the soft descriptor limit when that is lower (each connection is
    one descriptor; the rest is left for the process)."""
    if sys.platform == "win32":
        return MAX_CONNECTIONS
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(1, min(MAX_CONNECTIONS, soft // 2))


@dataclass(frozen=True)
class _Recorded:
    wire_format: str | None
    scenario: str
    interaction: Interaction
    request: Any


class CassetteLibrary:
    """Every interaction of one cassette or of every cassette under a folder, found by scenario or
    by request body. In a folder, a cassette that does not load is left out and named in
    ``unreadable`` (the others are served); a folder none of whose cassettes loads is an error."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: list[_Recorded] = []
        self.unreadable: list[CassetteError] = []
        if root.is_file():
            self._add(load_cassette(root), root)
            return
        for path in cassette_files(root):
            try:
                cassette = load_cassette(path)
            except CassetteError as exc:
                self.unreadable.append(exc)
                continue
            self._add(cassette, path)
        if self.unreadable and not self.entries:
            problem = f"none of its {len(self.unreadable)} cassettes loads; the first: {self.unreadable[0]}"
            raise CassetteError(root, problem)

    def _add(self, cassette: Cassette, path: Path) -> None:
        name = str(cassette.metadata.get("scenario") or cassette_stem(path).name)
        for interaction in cassette.interactions:
            entry = _Recorded(interaction.wire_format, name, interaction, interaction.request.json())
            self.entries.append(entry)

    def find(
        self, wire_format: str, scenario_name: str | None, body: Any, method: str, target: str
    ) -> Interaction | None:
        """By format and scenario, else by an equal JSON body, else (a bodiless GET, like a
        Responses resume) by method, path and query."""
        for entry in self.entries:
            if entry.wire_format == wire_format and scenario_name is not None and entry.scenario == scenario_name:
                return entry.interaction
        for entry in self.entries:
            if entry.wire_format == wire_format and body is not None and entry.request == body:
                return entry.interaction
        for entry in self.entries:
            recorded = urlsplit(entry.interaction.request.uri)
            same_target = recorded.path + (f"?{recorded.query}" if recorded.query else "") == target
            if body is None and entry.interaction.request.method == method and same_target:
                return entry.interaction
        return None

    def scenarios(self, wire_format: str) -> list[str]:
        return sorted({entry.scenario for entry in self.entries if entry.wire_format == wire_format})


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class Emulator:
    """The emulator's logic and its server; ``respond`` is the pure part, usable without sockets."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cassettes: str | Path | None = None,
        fault: Fault | str | None = None,
        event_delay: float = 0.0,
        recorded_timing: bool = True,
        gzip_sse: bool = False,
        idle_timeout: float = IDLE_TIMEOUT_S,
        max_connections: int | None = None,
    ) -> None:
        if not (math.isfinite(idle_timeout) and idle_timeout > 0):
            raise ValueError(f"idle_timeout must be a positive number of seconds, not {idle_timeout!r}")
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        self.host, self.port = host, port
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections or default_max_connections()
        self.gzip_sse = gzip_sse
        self.library = CassetteLibrary(Path(cassettes)) if cassettes is not None else None
        self.fault = parse_fault(fault) if isinstance(fault, str) else fault
        self.event_delay = event_delay
        self.recorded_timing = recorded_timing
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> Emulator:
        server = _Server((self.host, self.port), _Handler, self.max_connections)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        # a short poll interval: stop() waits for the serving loop to notice, 0.5 s by default
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="streamproof-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers waiting out a delay or a stall
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    # --- answering ---------------------------------------------------------------------------------

    def respond(self, request: IncomingRequest) -> ServedResponse:
        path = urlsplit(request.path).path
        if request.method == "GET" and path.rstrip("/").endswith(IDENTITY_PATH):
            body = {"emulator": "streamproof", "version": EMULATOR_VERSION, "scenarios": list(CATALOGUE)}
            return _json_response(200, body, ())
        fmt = format_for_path(path)
        if fmt is None or (request.method != "POST" and self.library is None):
            routes = ", ".join(f.routes for f in FORMATS.values())
            message = f"streamproof emulator: no route for {request.method} {path}; it serves POST {routes}"
            return _error_response(_FALLBACK.invalid_request(message), _FALLBACK, status=404)
        try:
            payload = orjson.loads(request.body) if request.body else None
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict) and request.method == "POST":
            return _error_response(
                fmt.invalid_request("We could not parse the JSON body of your request."), fmt
            )
        served = self._answer(fmt, request, payload or {})
        fault = self._fault_for(request, served, fmt)
        if isinstance(fault, ServedResponse):
            return fault
        if fault is None:
            return served
        try:
            return apply_fault(served, fault, wire_format=fmt.name)
        except FaultError as exc:  # e.g. a stream fault asked of a JSON answer
            return _error_response(fmt.invalid_request(f"streamproof emulator: {exc}"), fmt)

    def _answer(self, fmt: HarnessFormat, request: IncomingRequest, payload: dict[str, Any]) -> ServedResponse:
        key = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        if not key.strip():
            return _error_response(fmt.error_reply("bad_key", request_id=fmt.new_request_id()), fmt)
        path = urlsplit(request.path).path
        model = fmt.model_of(payload, path)
        name = request.headers.get(SCENARIO_HEADER)
        if name is None and isinstance(model, str) and model.startswith(SCENARIO_MODEL_PREFIX):
            name = model[len(SCENARIO_MODEL_PREFIX) :]
        if self.library is not None:  # recorded answers: the request only has to be found
            return self._from_cassettes(fmt, name, payload, request)
        if not isinstance(model, str) or not model:
            return _error_response(fmt.invalid_request("model: Field required", param="model"), fmt)
        problem = fmt.request_problem(payload)
        if problem is not None:
            return _error_response(fmt.invalid_request(problem), fmt)
        return self._scripted(fmt, name or "text", model, payload, request)

    def _from_cassettes(
        self, fmt: HarnessFormat, name: str | None, payload: dict[str, Any], request: IncomingRequest
    ) -> ServedResponse:
        assert self.library is not None
        interaction = self.library.find(fmt.name, name, payload or None, request.method, request.path)
        if interaction is None:
            known = ", ".join(self.library.scenarios(fmt.name)) or "none"
            message = (
                f"streamproof emulator: no cassette under {self.library.root} for {fmt.name}, "
                f"scenario {name!r} or this request; scenarios recorded for {fmt.name}: {known}"
            )
            return _error_response(fmt.invalid_request(message), fmt)
        served = served_from_interaction(interaction, recorded_timing=self.recorded_timing)
        return served.with_headers(**{EMULATOR_HEADER: EMULATOR_VERSION})

    def _scripted(
        self, fmt: HarnessFormat, name: str, model: str, payload: dict[str, Any], request: IncomingRequest
    ) -> ServedResponse:
        try:
            chosen = scenario(name)
        except ScenarioError as exc:
            return _error_response(fmt.invalid_request(f"streamproof emulator: {exc}"), fmt)
        if not chosen.applies_to(fmt.api, fmt.provider):
            reason = chosen.skip_reason(fmt.api, fmt.provider)
            message = f"streamproof emulator: scenario {name!r} does not exist for {fmt.api}: {reason}"
            return _error_response(fmt.invalid_request(message), fmt)
        request_id = fmt.new_request_id()
        if isinstance(chosen.answer, Failure):
            return _error_response(
                fmt.error_reply(chosen.answer.kind, model=model, request_id=request_id), fmt
            )
        # same request, same ids and deltas: re-recording gives the same cassette but for times. The
        # request is canonicalized first: SDK versions serialize the same JSON with other key orders.
        canonical = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        seed = int.from_bytes(hashlib.sha256(f"{fmt.api}|{name}|".encode() + canonical).digest()[:8], "big")
        ctx = WireContext(fmt.api, model, payload, random.Random(seed))
        headers = ((fmt.request_id_header, request_id),)
        if not fmt.is_streamed(payload, urlsplit(request.path).path):
            return _json_response(200, fmt.render_json(chosen.answer, ctx), headers)
        delay = self.event_delay
        if DELAY_HEADER in request.headers:
            value = request.headers[DELAY_HEADER]
            try:
                milliseconds = float(value)
            except ValueError:
                milliseconds = math.nan
            if not 0 <= milliseconds <= MAX_EVENT_DELAY_MS:  # also false for nan
                message = (
                    f"{DELAY_HEADER}: {value!r} is not a delay in milliseconds (0 to {MAX_EVENT_DELAY_MS:g})"
                )
                return _error_response(fmt.invalid_request(f"streamproof emulator: {message}"), fmt)
            delay = milliseconds / 1000
        events = fmt.render_events(chosen.answer, ctx)
        chunks = tuple(ServedChunk(event, i * delay) for i, event in enumerate(events))
        stream_headers = (("content-type", fmt.content_type), ("cache-control", "no-cache"), *headers)
        return ServedResponse(200, (*stream_headers, (EMULATOR_HEADER, EMULATOR_VERSION)), chunks, reason="OK")

    def _fault_for(
        self, request: IncomingRequest, served: ServedResponse, fmt: HarnessFormat
    ) -> Fault | ServedResponse | None:
        spec = request.headers.get(FAULT_HEADER)
        if spec is None:
            # a server-wide stream fault leaves responses it cannot apply to (errors, JSON) alone
            fault = self.fault
            if fault is not None and fault.kind not in STATUS_FAULTS and not served.streamed:
                return None
            return fault
        try:
            return parse_fault(spec)
        except FaultError as exc:
            return _error_response(fmt.invalid_request(f"streamproof emulator: {FAULT_HEADER}: {exc}"), fmt)


_FALLBACK = FORMATS["openai_chat"]  # the shape of an error for a path no format serves


def _json_response(status: int, body: Any, headers: tuple[tuple[str, str], ...]) -> ServedResponse:
    all_headers = (("content-type", "application/json"), *headers, (EMULATOR_HEADER, EMULATOR_VERSION))
    return ServedResponse(status, all_headers, (ServedChunk(orjson.dumps(body)),))


def _error_response(reply: ErrorReply, fmt: HarnessFormat, status: int | None = None) -> ServedResponse:
    request_id = reply.body.get("request_id") or fmt.new_request_id()
    return _json_response(status or reply.status, reply.body, fmt.error_headers(reply, str(request_id)))


def _content_length(headers: Mapping[str, str], path: str) -> int | ServedResponse:
    """The request body's length, or the 400 (413: too long) naming the header that cannot frame it."""
    fmt = format_for_path(urlsplit(path).path) or _FALLBACK  # the error in some provider's shape
    value = headers.get("content-length")
    status, problem = 400, ""
    if "transfer-encoding" in headers:  # no SDK sends a chunked request; reading one is not worth it
        problem = f"Transfer-Encoding: {headers['transfer-encoding']!r} request bodies are not accepted; send a Content-Length"
    elif value is not None and not (value.strip().isascii() and value.strip().isdigit()):
        problem = f"Content-Length: {value!r} is not a byte count"
    elif value is not None and int(value) > MAX_BODY_BYTES:
        status, problem = (
            413,
            f"Content-Length: {value} is over the emulator's limit of {MAX_BODY_BYTES} bytes",
        )
    if not problem:
        return int(value or 0)
    return _error_response(fmt.invalid_request(f"streamproof emulator: {problem}"), fmt, status=status)


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``max_connections`` of them. A connection waiting for its
    next request is idle; when every slot is taken, a new client takes the slot of the connection
    idle the longest (closed, as servers close keep-alive connections), or gets a 503."""

    daemon_threads = True  # a handler stalled on purpose must not hold up shutdown
    request_queue_size = 128  # socketserver's default backlog of 5 refuses bursts of clients
    emulator: Emulator

    def __init__(self, address: tuple[str, int], handler: type[_Handler], max_connections: int) -> None:
        super().__init__(address, handler)
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._idle: dict[socket.socket, float] = {}  # connection -> since when it waits for a request

    def get_request(self) -> tuple[socket.socket, Any]:
        try:
            return super().get_request()
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENFILE):  # out of descriptors: free one, do not spin
                self._evict_idle()
                self.emulator.stopping.wait(0.05)
            raise

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if not (self._evict_idle() and self._slots.acquire(timeout=SLOT_WAIT_S)):
                self._refuse(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread started: the slot is ours to give back
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.set_idle(request, False)
            self._slots.release()

    def set_idle(self, connection: socket.socket, idle: bool) -> None:
        with self._lock:
            if idle:
                self._idle[connection] = time.monotonic()
            else:
                self._idle.pop(connection, None)

    def _evict_idle(self) -> bool:
        """Closes the connection idle the longest; False when every connection is busy."""
        with self._lock:
            if not self._idle:
                return False
            oldest = min(self._idle, key=self._idle.__getitem__)
            del self._idle[oldest]
        try:
            oldest.shutdown(socket.SHUT_RDWR)  # its handler's read returns at once and the thread ends
        except OSError:
            pass  # already gone: its slot is on its way back
        return True

    def _refuse(self, request: socket.socket) -> None:
        """A 503 for a client that finds every connection busy, written without a thread."""
        message = f"streamproof emulator: all {self.max_connections} connections are busy; retry shortly"
        body = orjson.dumps({"error": {"message": message, "type": "server_error", "code": "busy"}})
        head = (
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nretry-after: 1\r\nconnection: close\r\n"
            f"{EMULATOR_HEADER}: {EMULATOR_VERSION}\r\n\r\n"
        )
        try:
            request.settimeout(1.0)  # a client that does not read must not hold up accepting
            request.sendall(head.encode() + body)
        except OSError:
            pass  # the client is gone already; nothing to tell it
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that hung up or went quiet (its read timeout, a cut we made) is business as usual
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "streamproof-emulator/" + EMULATOR_VERSION
    sys_version = ""

    def setup(self) -> None:
        assert isinstance(self.server, _Server)
        super().setup()
        self.connection.settimeout(self.server.emulator.idle_timeout)  # a silent client is let go
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle_one_request(self) -> None:
        assert isinstance(self.server, _Server)
        self.server.set_idle(self.connection, True)  # until the request's method is dispatched
        try:
            super().handle_one_request()
        finally:
            self.server.set_idle(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the CLI print their own
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        started = time.monotonic()
        assert isinstance(self.server, _Server)
        self.server.set_idle(self.connection, False)  # busy: an eviction must not cut this request
        emulator = self.server.emulator
        headers = {name.lower(): value for name, value in self.headers.items()}
        length = _content_length(headers, self.path)
        if isinstance(length, ServedResponse):  # the body cannot be framed: answer and hang up
            self.close_connection = True
            served = length
        else:
            body = self.rfile.read(length) if length else b""
            if len(body) < length:  # the client hung up mid-body
                self.close_connection = True
                return
            served = emulator.respond(IncomingRequest(self.command, self.path, headers, body))
        gzip = emulator.gzip_sse and served.is_sse and "gzip" in headers.get("accept-encoding", "")
        try:
            self._write(served, started, emulator.stopping, gzip)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a read timeout, a cancel)
            self.close_connection = True

    def _write(self, served: ServedResponse, started: float, stopping: threading.Event, gzip: bool) -> None:
        if served.stall_before_headers and stopping.wait(served.stall_before_headers):
            self.close_connection = True
            return
        self.send_response(served.status, served.reason or None)
        for name, value in served.headers:
            self.send_header(name, value)
        # gzip: each chunk sync-flushed, so it decodes as soon as it arrives (as Anthropic's SSE does)
        compressor = zlib.compressobj(wbits=31) if gzip else None
        if compressor is not None:
            self.send_header("Content-Encoding", "gzip")
        chunked = served.streamed or served.abort or compressor is not None or len(served.chunks) != 1
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(served.body)))
        self.end_headers()
        for chunk in served.chunks:
            wait = started + chunk.at - time.monotonic()
            if wait > 0 and stopping.wait(wait):
                break
            data = chunk.data
            if compressor is not None:
                data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            self.wfile.flush()
        if served.abort or stopping.is_set():
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)  # no final chunk: the client sees a broken body
            except OSError:
                pass  # the client has hung up already
            return
        if compressor is not None:
            tail = compressor.flush()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(tail), tail))
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
