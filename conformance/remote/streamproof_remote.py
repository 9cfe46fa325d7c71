"""The streamproof client: runs one adapter in its own interpreter for ``streamproof check --adapter-python``.

One file, standard library only: the suite copies it into a temporary folder and starts it with the
adapter's interpreter (``PYTHON streamproof_remote.py --adapter MODULE:FACTORY``), so that
interpreter needs the adapter and its library, not streamproof nor streamproof's SDK floors. While it
runs, ``import streamproof_remote`` gives an adapter written for such an environment what the
protocol names: ``Capabilities`` and the ``LLMError`` classes (the same names as
``streamproof.adapters.errors``; an adapter that has streamproof installed may raise those instead).

It speaks JSON lines with the suite: commands on stdin (``call``, then ``next`` after each event,
``close`` when the consumer stopped early, ``cancel`` when its deadline passed), messages on its
original stdout (``hello``, ``event``, ``trace``, ``result``, ``network``, ``end``); whatever the
adapter prints goes to stderr. Each call's ``base_url`` is the suite's loopback server, which serves
the case's response with the battery's bytes, chunks and pacing; the ``httpx`` / ``httpx2`` clients a
library builds itself are routed there too, and any other connection is refused and reported, as
in-process. Events are pulled one at a time, when the suite's consumer asks for the next one, so an
early stop reaches the adapter where it would in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import json
import os
import socket
import sys
import threading
import traceback
from collections.abc import AsyncGenerator, Mapping
from typing import Any, BinaryIO

PROTOCOL = 1
TASK_GRACE_S = 0.2  # as the battery: tasks the call spawned may take this long to finish after it
ADAPTER_FRAMES = 6  # the innermost frames of the adapter's exception sent back
ORIGIN_HEADER = "x-streamproof-origin"  # the host a routed request was meant for


# -- what an adapter without streamproof installed takes from here ----------------------------------


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """The protocol's ``Capabilities`` (``streamproof.conformance.protocol``), field for field."""

    apis: frozenset[str] = frozenset(("chat", "responses", "messages"))
    formats: frozenset[str] = frozenset()
    traces: bool = True
    cancellation: bool = True
    coalesced_deltas: bool = False
    exact_arguments: bool = False


class StreamproofError(Exception):
    """Base of the error classes below (``streamproof.adapters.errors``' names)."""


class LLMError(StreamproofError):
    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retryable: bool | None = None,
        code: str | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.request_id = request_id
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.code = code
        self.body = body


class LLMConnectionError(LLMError):
    retryable_by_default = True


class LLMTimeoutError(LLMConnectionError):
    retryable_by_default = True


class LLMRateLimitError(LLMError):
    retryable_by_default = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class LLMInsufficientCreditsError(LLMError):
    pass


class LLMBadRequestError(LLMError):
    pass


class LLMContextWindowExceededError(LLMBadRequestError):
    pass


class LLMAuthenticationError(LLMError):
    pass


class LLMPermissionDeniedError(LLMError):
    pass


class LLMNotFoundError(LLMError):
    pass


class LLMUnprocessableEntityError(LLMError):
    pass


class LLMServerError(LLMError):
    retryable_by_default = True


class LLMProviderOverloadedError(LLMServerError):
    retryable_by_default = True


class LLMEmptyResponseError(LLMError):
    retryable_by_default = True


class LLMIncompleteStreamError(LLMError):
    retryable_by_default = True


class MalformedStreamError(LLMError):
    pass


# -- the channel to the suite -------------------------------------------------------------------------


class Channel:
    """JSON lines to the suite on the process's original stdout (the adapter's prints go to stderr)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, message: Mapping[str, Any]) -> None:
        line = json.dumps(message, default=repr, separators=(",", ":")).encode("utf-8") + b"\n"
        with self._lock:
            self._out.write(line)
            self._out.flush()


def plain(value: object) -> Any:
    """An event, trace or result as JSON data: ``model_dump(mode="json")`` of a pydantic model, a
    mapping as it is; None for anything else."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, Mapping):
        return dict(value)
    return None


def encode_result(result: object) -> dict[str, Any]:
    if result is None:
        return {"kind": "none"}
    if type(result).__name__ == "LLMResult" and callable(getattr(result, "model_dump", None)):
        return {"kind": "llm_result", "data": plain(result)}
    if isinstance(result, Mapping):
        return {"kind": "dict", "data": dict(result)}
    return {"kind": "other", "repr": repr(result)}


def encode_error(exc: BaseException) -> dict[str, Any]:
    """Enough of an exception for the suite to raise its like: the classes (module, name) of its
    MRO, its message and the ``LLMError`` attributes, and where it was raised."""
    attributes = {
        name: getattr(exc, name)
        for name in ("message", "provider", "status", "request_id", "retryable", "code", "retry_after")
        if hasattr(exc, name)
    }
    body = getattr(exc, "body", None)
    try:
        json.dumps(body)
    except (TypeError, ValueError):
        body = repr(body)
    attributes["body"] = body
    frames = traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-ADAPTER_FRAMES)
    return {
        "classes": [[cls.__module__, cls.__qualname__] for cls in type(exc).__mro__],
        "text": str(exc),
        "attributes": attributes,
        "traceback": "".join(frames),
    }


# -- one call -----------------------------------------------------------------------------------------


class Traces:
    """``call.traces``: ``emit(trace)``, or the sink of a ``TraceWriter`` (``write_batch``/``aclose``)."""

    def __init__(self, channel: Channel, call_id: int) -> None:
        self._channel = channel
        self._id = call_id
        self.count = 0

    def emit(self, trace: object) -> None:
        fields = plain(trace)
        self._channel.send(
            {
                "id": self._id,
                "type": "trace",
                "trace": fields if fields is not None else {"unreadable_trace": repr(trace)},
            }
        )
        self.count += 1

    async def write_batch(self, traces: Any) -> None:
        for trace in traces:
            self.emit(trace)

    async def aclose(self) -> None:
        """Nothing to release: each trace went to the suite when it was emitted."""


@dataclasses.dataclass
class RemoteCall:
    """The protocol's ``ConformanceCall`` in this interpreter: the same fields, with ``http_client`` an
    ``httpx2`` (else ``httpx``) ``AsyncClient`` reaching the loopback, None when neither is installed."""

    api: str
    provider: str
    request: dict[str, Any]
    http_client: Any
    base_url: str
    api_key: str
    billing: Any  # streamproof's ``BillingContext`` when streamproof is installed, else a dict
    traces: Traces
    timeout_s: float
    model: str = ""
    credentials: dict[str, str] = dataclasses.field(default_factory=dict)
    result: object | None = None

    def set_result(self, result: object) -> None:
        self.result = result


class Network:
    """Routes the ``httpx`` / ``httpx2`` pools to the loopback during a call and refuses any other
    connection (name lookups included), telling the suite each host, as the in-process guard does."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.port: int | None = None  # the loopback server of the call in progress
        self.call_id = 0
        self._connect = socket.socket.connect
        self._getaddrinfo = socket.getaddrinfo

    def refused(self, where: str, attempt: str) -> OSError:
        self.channel.send({"id": self.call_id, "type": "network", "host": where, "attempt": attempt})
        message = f"streamproof: a connection to {where} outside the cassette was refused during the call"
        if attempt == "resolve":
            return socket.gaierror(socket.EAI_NONAME, message)
        return ConnectionRefusedError(message)

    def loopback(self, host: object, port: object = None) -> bool:
        return str(host) in ("127.0.0.1", "localhost") and port in (None, 0, self.port, str(self.port))

    def install(self) -> None:
        guard = self

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if guard.port is not None and host is not None and not guard.loopback(host):
                where = f"{host}:{port}" if port not in (None, 0, "") else str(host)
                raise guard.refused(f"{where} (name resolution)", "resolve")
            return guard._getaddrinfo(host, port, *args, **kwargs)

        def connect(sock: socket.socket, address: Any) -> None:
            inet = sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
            if guard.port is not None and inet and not guard.loopback(address[0], address[1]):
                raise guard.refused(f"{address[0]}:{address[1]}", "connect")
            guard._connect(sock, address)

        socket.getaddrinfo = getaddrinfo
        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        for name in ("httpx2", "httpx"):
            with contextlib.suppress(ImportError):
                self._route(importlib.import_module(name))

    def _route(self, library: Any) -> None:
        """A request of this library's async pools to another host goes to the loopback, carrying the
        host it was meant for (the suite's transport answers every host, as in-process)."""
        original = library.AsyncHTTPTransport.handle_async_request
        guard = self

        async def handle_async_request(transport: Any, request: Any) -> Any:
            url = request.url
            if guard.port is not None and not guard.loopback(url.host, url.port):
                request.headers[ORIGIN_HEADER] = f"{url.scheme}://{url.netloc.decode('ascii')}"
                request.url = url.copy_with(scheme="http", host="127.0.0.1", port=guard.port)
            return await original(transport, request)

        library.AsyncHTTPTransport.handle_async_request = handle_async_request


def http_client(timeout_s: float) -> Any:
    for name in ("httpx2", "httpx"):
        try:
            library = importlib.import_module(name)
        except ImportError:
            continue
        return library.AsyncClient(timeout=timeout_s)
    return None


def billing_context(fields: dict[str, Any]) -> Any:
    try:
        billing = importlib.import_module("streamproof.adapters.billing")
    except ImportError:
        return dict(fields)
    return billing.BillingContext.model_validate(fields)


class Worker:
    def __init__(self, adapter: Any, channel: Channel) -> None:
        self.adapter = adapter
        self.channel = channel
        self.network = Network(channel)
        self.inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._early: list[dict[str, Any] | None] = []  # a command taken while the adapter's step won

    async def command(self) -> dict[str, Any] | None:
        if self._early:
            return self._early.pop(0)
        return await self.inbox.get()

    async def serve(self) -> None:
        self.network.install()
        while True:
            message = await self.command()
            if message is None:
                return
            if message.get("op") != "call":
                continue  # a late next/close/cancel of a call already over
            call_id = int(message["id"])
            try:
                await self.call(call_id, message["call"])
            except Exception as exc:  # this interpreter lacks what the call needs (no HTTP client, ...)
                self.network.port = None
                self.channel.send(
                    {"id": call_id, "type": "end", "result": {"kind": "none"}, "error": encode_error(exc)}
                )

    async def _step(self, stream: AsyncGenerator[Any, None]) -> tuple[str, Any]:
        """The adapter's next event, or how the call ended, while a ``cancel`` may arrive."""
        step = asyncio.ensure_future(stream.__anext__())
        command = asyncio.ensure_future(self.command())
        done, _ = await asyncio.wait({step, command}, return_when=asyncio.FIRST_COMPLETED)
        if step in done:
            if command.done():
                self._early.append(command.result())
            else:
                command.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await command
            try:
                return "event", step.result()
            except StopAsyncIteration:
                return "done", None
            except Exception as exc:  # the adapter's exception: the verdict's input, sent back as it is
                return "error", exc
        step.cancel()  # the suite's deadline passed: the adapter sees a cancellation, as in-process
        with contextlib.suppress(BaseException):
            await step
        return "cancelled", command.result()

    async def call(self, call_id: int, fields: dict[str, Any]) -> None:
        self.network.call_id = call_id
        self.network.port = int(fields["port"])
        traces = Traces(self.channel, call_id)
        async with contextlib.AsyncExitStack() as stack:
            client = http_client(float(fields["timeout_s"]))
            if client is not None:
                await stack.enter_async_context(client)
            call = RemoteCall(
                api=fields["api"],
                provider=fields["provider"],
                request=fields["request"],
                http_client=client,
                base_url=fields["base_url"],
                api_key=fields["api_key"],
                billing=billing_context(fields["billing"]),
                traces=traces,
                timeout_s=float(fields["timeout_s"]),
                model=str(fields.get("model", "")),
                credentials=dict(fields.get("credentials", {})),
            )
            before = asyncio.all_tasks()
            error: dict[str, Any] | None = None
            stream = self.adapter.stream(call)
            try:
                while True:
                    how, value = await self._step(stream)
                    if how == "event":
                        event = plain(value)
                        unreadable = None if event is not None else type(value).__name__
                        self.channel.send(
                            {"id": call_id, "type": "event", "event": event, "unreadable": unreadable}
                        )
                        reply = await self.command()
                        if reply is None or reply.get("op") != "next":  # close, cancel, or the suite is gone
                            break
                        continue
                    if how == "error":
                        error = encode_error(value)
                    break
            finally:
                try:
                    await stream.aclose()
                except (
                    Exception
                ) as exc:  # the adapter raised while closing: in-process it would reach the consumer
                    error = error or encode_error(exc)
            await asyncio.sleep(0)  # let the adapter's cleanup callbacks run
            spawned = asyncio.all_tasks() - before - {asyncio.current_task()}
            if spawned:
                await asyncio.wait(spawned, timeout=TASK_GRACE_S)
            leftover = sorted(f"{t.get_name()} running {t.get_coro()!r}" for t in spawned if not t.done())
        self.network.port = None
        self.channel.send(
            {
                "id": call_id,
                "type": "end",
                "result": encode_result(call.result),
                "error": error,
                "leftover_tasks": leftover,
            }
        )


def load(spec: str) -> Any:
    """The factory's object; a module is found in the current folder too, as ``python -m`` (and
    ``streamproof check`` in-process) would."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        top, here = module_name.partition(".")[0], os.getcwd()
        if (
            exc.name != top
            or here in sys.path
            or not any(os.path.exists(os.path.join(here, name)) for name in (f"{top}.py", top))
        ):
            raise
        sys.path.insert(0, here)
        module = importlib.import_module(module_name)
    return getattr(module, attribute)()


def describe(adapter: Any) -> dict[str, Any]:
    caps = adapter.capabilities
    return {
        "type": "hello",
        "protocol": PROTOCOL,
        "name": str(adapter.name),
        "capabilities": {
            "apis": sorted(caps.apis),
            "formats": sorted(getattr(caps, "formats", ())),
            **{
                name: bool(getattr(caps, name))
                for name in ("traces", "cancellation", "coalesced_deltas", "exact_arguments")
            },
        },
        "known_gaps": {str(key): str(reason) for key, reason in dict(adapter.known_gaps).items()},
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "prefix": sys.prefix,
    }


async def main_async(spec: str, channel: Channel) -> None:
    try:
        adapter = load(spec)
        hello = describe(adapter)
    except Exception as exc:  # cannot import or build the adapter: the suite says so and exits 2
        channel.send({"type": "load_error", "error": encode_error(exc)})
        return
    channel.send(hello)
    worker = Worker(adapter, channel)
    loop = asyncio.get_running_loop()

    def read_commands() -> None:
        for line in sys.stdin.buffer:
            loop.call_soon_threadsafe(worker.inbox.put_nowait, json.loads(line))
        loop.call_soon_threadsafe(worker.inbox.put_nowait, None)  # the suite is gone

    threading.Thread(target=read_commands, name="streamproof-commands", daemon=True).start()
    await worker.serve()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--adapter":
        print("usage: streamproof_remote.py --adapter MODULE:FACTORY", file=sys.stderr)
        return 2
    channel = Channel(os.fdopen(os.dup(1), "wb"))
    os.dup2(2, 1)  # the adapter's prints go to stderr, not into the channel
    sys.modules.setdefault("streamproof_remote", sys.modules[__name__])  # one copy of the classes above
    asyncio.run(main_async(argv[1], channel))
    sys.stderr.flush()
    os._exit(0)  # not a normal shutdown: the thread reading stdin may still hold its lock


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
