"""An adapter run by another interpreter, seen by the battery as an in-process one.

``RemoteAdapter(python, spec)`` starts ``python streamproof_remote.py --adapter spec`` (the client file
copied into a temporary folder: the interpreter needs no streamproof of its own) and reads the
adapter's ``name``, ``capabilities`` and ``known_gaps`` from it. Its ``stream(call)`` puts the call's
transport on a loopback server (``Loopback``) and forwards the call; the remote adapter's events,
traces, result and exception come back as JSON lines, one event at a time as the consumer asks
(an early stop closes the remote stream where it is; a cancellation cancels it there).

A worker that dies during a call fails that call with ``RemoteAdapterCrashed`` (its exit code and
last stderr lines), and the next call starts a fresh one; one that does not finish closing within
``CLOSE_GRACE_S`` after the battery's deadline is killed. The run goes on either way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

from ...adapters import errors
from ...adapters.events import LLMResult
from ...harness import network
from ..protocol import AdapterLoadError, Capabilities, ConformanceCall
from .loopback import REMOTE_READ_TIMEOUT_S, Loopback

CLIENT = Path(__file__).with_name("streamproof_remote.py")
START_TIMEOUT_S = 120.0  # importing a library with its SDKs in a cold interpreter on a loaded machine
CLOSE_GRACE_S = 5.0  # after an early stop or a deadline: how long the remote side may take to finish
STDERR_LINES = 12  # of a dead worker's stderr, in the failure message
_EOF = None


class RemoteAdapterCrashed(errors.StreamproofError):  # type: ignore[misc,unused-ignore]
    """The adapter's interpreter died (or never answered) during a call."""


class RemoteAdapterError(Exception):
    """Base of the stand-ins for an exception class the adapter raised that streamproof does not have
    (``KeyError``, a library's own): the stand-in has its name and message."""


_STANDINS: dict[tuple[str, type[BaseException]], type[BaseException]] = {}


def standin(name: str, base: type[BaseException]) -> type[BaseException]:
    key = (name, base)
    if key not in _STANDINS:
        _STANDINS[key] = type(name, (base,), {"__module__": "streamproof_remote.adapter"})
    return _STANDINS[key]


def decode_error(data: Mapping[str, Any]) -> BaseException:
    """The remote exception as one the battery judges as it would in-process: the ``LLMError`` class
    of streamproof it is (or derives from), with its attributes, else a stand-in of its name; the
    remote traceback rides along as ``remote_traceback``."""
    classes = [(str(module), str(name)) for module, name in data["classes"]]
    attributes = dict(data.get("attributes") or {})
    own_name = classes[0][1]
    exc: BaseException | None = None
    for module, name in classes:
        known = getattr(errors, name, None)
        ours = module.endswith("adapters.errors") or module in ("streamproof_remote", "__main__")
        if ours and isinstance(known, type) and issubclass(known, errors.LLMError):
            cls = known if name == own_name else standin(own_name, known)
            kwargs = {
                key: attributes.get(key)
                for key in ("provider", "status", "request_id", "retryable", "code", "body")
            }
            if issubclass(cls, errors.LLMRateLimitError):
                kwargs["retry_after"] = attributes.get("retry_after")
            exc = cls(str(attributes.get("message", data["text"])), **kwargs)
            break
    if exc is None:
        exc = standin(own_name, RemoteAdapterError)(str(data["text"]))
    exc.remote_traceback = str(data.get("traceback", ""))  # type: ignore[attr-defined]
    return exc


class _Unreadable:
    """What the remote adapter handed over that is neither an ``LLMResult`` nor a dict: its repr."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def decode_result(data: Mapping[str, Any]) -> object:
    kind = data["kind"]
    if kind == "none":
        return None
    if kind == "llm_result":
        return LLMResult.model_validate(data["data"])
    if kind == "dict":
        return dict(data["data"])
    return _Unreadable(str(data.get("repr")))


class Worker:
    """One ``streamproof_remote`` process: commands on its stdin, messages from its stdout read by a
    thread and handed to the call in progress on that call's event loop."""

    def __init__(self, python: str, spec: str, client_dir: Path) -> None:
        self.python = python
        self.process = subprocess.Popen(
            [python, str(client_dir / CLIENT.name), "--adapter", spec],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,  # the current folder stays the caller's: the adapter's own files are there
        )
        self.stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.hello: dict[str, Any] | None = None
        self._hello_seen = threading.Event()
        self._sink: tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any] | None], int] | None = None
        self._lock = threading.Lock()
        self.dead = False
        threading.Thread(target=self._read_messages, name="streamproof-remote-out", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="streamproof-remote-err", daemon=True).start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip())

    def _read_messages(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not the client's (it writes JSON lines only)
            if self.hello is None and message.get("type") in ("hello", "load_error"):
                self.hello = message
                self._hello_seen.set()
                continue
            self._deliver(message)
        self.dead = True
        self._hello_seen.set()
        self._deliver(_EOF)

    def _deliver(self, message: dict[str, Any] | None) -> None:
        with self._lock:
            sink = self._sink
        if sink is None:
            return
        loop, queue, call_id = sink
        if message is None or message.get("id") == call_id:
            with contextlib.suppress(RuntimeError):  # the call's loop is closed: nobody waits
                loop.call_soon_threadsafe(queue.put_nowait, message)

    def wait_hello(self, timeout_s: float) -> dict[str, Any] | None:
        self._hello_seen.wait(timeout_s)
        return self.hello

    def subscribe(self, call_id: int) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        with self._lock:
            self._sink = (asyncio.get_running_loop(), queue, call_id)
        if self.dead:
            queue.put_nowait(_EOF)
        return queue

    def unsubscribe(self) -> None:
        with self._lock:
            self._sink = None

    def send(self, message: Mapping[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode("utf-8") + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: its stdin is closed; the reader sees the end
            pass

    def death(self) -> str:
        try:
            code = self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        where = f"{self.python}, pid {self.process.pid}"
        stderr = " | ".join(line for line in self.stderr if line.strip())
        told = f"; its stderr ends: {stderr}" if stderr else ""
        return f"the adapter's interpreter ({where}) exited with code {code} during the call{told}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class RemoteAdapter:
    """The adapter protocol over a ``Worker``: ``name``, ``capabilities``, ``known_gaps`` as the remote
    factory's object gave them, and ``stream(call)`` forwarded."""

    def __init__(self, python: str, spec: str) -> None:
        self.python = python
        self.spec = spec
        self._dir = Path(tempfile.mkdtemp(prefix="streamproof-remote-"))
        shutil.copy(CLIENT, self._dir / CLIENT.name)
        self._calls = 0
        self._worker: Worker | None = None
        hello = self._start().hello or {}
        self.name = str(hello["name"])
        caps = hello["capabilities"]
        self.capabilities = Capabilities(
            apis=frozenset(caps["apis"]),
            formats=frozenset(caps.get("formats", ())),
            traces=caps["traces"],
            cancellation=caps["cancellation"],
            coalesced_deltas=caps["coalesced_deltas"],
            exact_arguments=caps["exact_arguments"],
        )
        self.known_gaps: Mapping[str, str] = dict(hello["known_gaps"])
        self.remote_python = str(hello.get("python", ""))

    def _start(self) -> Worker:
        try:
            worker = Worker(self.python, self.spec, self._dir)
        except OSError as exc:
            raise AdapterLoadError(f"--adapter-python {self.python}: cannot start it: {exc}") from exc
        hello = worker.wait_hello(START_TIMEOUT_S)
        if hello is None or hello.get("type") != "hello":
            worker.stop()
            if hello is None:
                problem = worker.death().replace(" during the call", " before it described the adapter")
            else:
                problem = str(decode_error(hello["error"]))
                problem = f"{hello['error']['classes'][0][1]}: {problem}"
            raise AdapterLoadError(f"adapter {self.spec!r} in {self.python}: {problem}")
        self._worker = worker
        return worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def _live_worker(self) -> Worker:
        worker = self._worker
        if worker is not None and not worker.dead:
            return worker
        if worker is not None:
            worker.stop()
        try:
            return self._start()
        except AdapterLoadError as exc:
            raise RemoteAdapterCrashed(str(exc)) from exc

    async def stream(self, call: ConformanceCall) -> AsyncGenerator[object, None]:
        worker = self._live_worker()
        self._calls += 1
        call_id = self._calls
        loopback = Loopback(call)
        await loopback.start()
        inbox = worker.subscribe(call_id)
        worker.send(
            {
                "op": "call",
                "id": call_id,
                "call": {
                    "api": call.api,
                    "provider": call.provider,
                    "request": call.request,
                    "base_url": loopback.base_url,
                    "api_key": call.api_key,
                    "billing": call.billing.model_dump(mode="json"),
                    "timeout_s": REMOTE_READ_TIMEOUT_S,
                    "port": loopback.port,
                    "model": call.model,
                    "credentials": dict(call.credentials),
                },
            }
        )
        ended: dict[str, Any] | None = None
        try:
            while ended is None:
                message = await inbox.get()
                ended = self._take(call, message, worker)
                if ended is None and message is not None and message["type"] == "event":
                    yield _event(message)
                    worker.send({"op": "next", "id": call_id})
        except GeneratorExit:  # the consumer stopped early: the remote stream is closed where it is
            _finish(
                await self._drain(call, inbox, worker, call_id, "close")
            )  # what it raised replaces the exit
            raise
        except asyncio.CancelledError:  # the battery's deadline: the remote step is cancelled too
            await self._drain(call, inbox, worker, call_id, "cancel")
            raise
        finally:
            worker.unsubscribe()
            await loopback.close()
        _finish(ended)

    def _take(
        self, call: ConformanceCall, message: dict[str, Any] | None, worker: Worker
    ) -> dict[str, Any] | None:
        """Handles one message; the ``end`` message when the call is over, else None."""
        if message is None:
            crashed = RemoteAdapterCrashed(worker.death())
            crashed.remote_traceback = "\n".join(worker.stderr)  # type: ignore[attr-defined]
            self._replace(worker)
            raise crashed
        kind = message["type"]
        if kind == "trace":
            call.traces.emit(message["trace"])
        elif kind == "network":
            _refused(str(message["host"]), str(message["attempt"]))
        elif kind == "end":
            call.set_result(decode_result(message["result"]))
            return message
        return None

    async def _drain(
        self,
        call: ConformanceCall,
        inbox: asyncio.Queue[dict[str, Any] | None],
        worker: Worker,
        call_id: int,
        how: str,
    ) -> dict[str, Any]:
        """Tells the worker to ``close`` or ``cancel`` the call and takes the rest: its traces and end;
        a worker that does not finish within ``CLOSE_GRACE_S`` is killed (the next call starts a
        fresh one)."""
        if worker.dead:
            return {}
        worker.send({"op": how, "id": call_id})

        async def rest() -> dict[str, Any]:
            while True:
                message = await inbox.get()
                if message is not None and message["type"] == "event":
                    continue  # it had already pulled the next one
                ended = self._take(call, message, worker)
                if ended is not None:
                    return ended

        with contextlib.suppress(asyncio.TimeoutError, RemoteAdapterCrashed):
            return await asyncio.wait_for(rest(), CLOSE_GRACE_S)
        self._replace(worker)
        return {}

    def _replace(self, worker: Worker) -> None:
        """A fresh worker for the next call, started now, on the time of the call that failed: a cold
        interpreter's imports can take longer than a call's deadline on a loaded machine."""
        worker.stop()
        if self._worker is not worker:
            return  # already replaced
        self._worker = None
        with contextlib.suppress(AdapterLoadError):  # the next call tries again, and says why
            self._start()


def _finish(ended: Mapping[str, Any]) -> None:
    """What the end of a remote call means here: the tasks it left running, the error it raised."""
    for left in ended.get("leftover_tasks") or []:
        _leave_task_behind(left)
    error = ended.get("error")
    if error:
        raise decode_error(error)


def _event(message: Mapping[str, Any]) -> object:
    """The remote event as the battery reads it: a dict of the canonical shape, or a stand-in of the
    object's class when it was neither a model nor a dict (the battery names that class)."""
    if message.get("unreadable"):
        return type(str(message["unreadable"]), (), {})()
    event: object = message["event"]
    return event


def _refused(where: str, attempt: str) -> None:
    """Tells the suite's network guard (in force during the call) of a connection the remote side
    refused: the case fails naming the host, as in-process."""
    policy = network._policy()
    if policy is not None:
        host, _, port = where.removesuffix(" (name resolution)").rpartition(":")
        policy.refuse(host or where, port or None, attempt)


async def _remote_task_left_behind() -> None:
    await asyncio.sleep(1.0)


def _leave_task_behind(description: str) -> None:
    """A task the remote call left running: a local one of that name, alive past the battery's grace
    period, so the cancellation check reports it as it would in-process."""
    asyncio.ensure_future(_remote_task_left_behind()).set_name(
        f"{description} (in the adapter's interpreter)"
    )


def load_remote_adapter(python: str, spec: str) -> RemoteAdapter:
    """``spec`` (MODULE:FACTORY) built by the interpreter ``python``; ``AdapterLoadError`` when it
    cannot be started, imported or described."""
    module, sep, factory = spec.partition(":")
    if not (module and sep and factory):
        raise AdapterLoadError(f"adapter {spec!r}: expected MODULE:FACTORY (with --adapter-python)")
    # a venv's python must stay the venv's: made absolute (it runs from another folder), never resolved
    found = os.path.abspath(python) if os.sep in python else shutil.which(python)
    if found is None or not os.path.isfile(found):
        raise AdapterLoadError(f"--adapter-python {python}: no such interpreter")
    return RemoteAdapter(found, spec)
