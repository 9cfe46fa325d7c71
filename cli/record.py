"""``streamproof record``: record catalogue scenarios to cassettes through the real SDKs.

    streamproof record --api chat --scenario tool_call --out cassettes            # live, key from the env
    streamproof record --all --emulator --out cassettes                           # the bundled set
    streamproof record --api chat --scenario text --base-url http://localhost:8000/v1 --out DIR

Each scenario's request (``harness/scenarios.py``) goes through the official SDK (``openai`` for
``chat``/``responses``, ``anthropic`` for ``messages``, ``anthropic.AnthropicBedrock`` for
``--provider bedrock --api messages``) over an httpx2 client whose transport is the
recording transport (``harness/recorder.py``): the stream reaches the SDK as it arrives while its
chunks and their times are kept. The cassette lands in ``OUT/<provider>/<api>/<scenario>.yaml``,
scrubbed and written atomically, and only when the recording went as the scenario expects (its
reply, or its own error: a transient 500 or a cut stream is not a recording); otherwise the
previous cassette stays (a first recording is written, to be looked at), and the command says so
and exits 1. Keys come from ``OPENAI_API_KEY`` /
``ANTHROPIC_API_KEY`` (Bedrock: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``,
``AWS_REGION``, signed by botocore; none of them reaches the cassette); against
the emulator a dummy key is used when none is set; ``--key-env`` names another variable (for an
OpenAI-compatible server reached with ``--base-url`` and ``--provider``). ``--emulator`` starts an emulator on a free
loopback port; a ``--base-url`` that answers the emulator's identity probe counts as one too, and
the cassette's metadata then says ``source: emulator`` (otherwise ``live``).
"""

from __future__ import annotations

import argparse
import os
import stat
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anthropic
import httpx2
import openai
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ..adapters.url_secrets import redact_url
from ..harness.cassette import Cassette, load_cassette, new_metadata, save_cassette
from ..harness.emulator import EMULATOR_HEADER, Emulator
from ..harness.emulator.server import FAULT_HEADER, IDENTITY_PATH
from ..harness.faults import SYNTHETIC_HEADER, Fault
from ..harness.formats import APIS, FORMATS, HarnessFormat, format_for, format_for_path
from ..harness.outcome import replay_interaction
from ..harness.recorder import CassetteRecorder, RecordingTransport
from ..harness.scenarios import (
    CATALOGUE,
    SCENARIO_HEADER,
    Failure,
    ScenarioError,
    catalogue_formats,
    model_for,
    scenario,
)
from ..harness.scrub import Scrubber
from .emulate import fault_argument

DUMMY_KEY = "streamproof-emulator-dummy-key"
BAD_KEY = "streamproof-deliberately-invalid-key"
# the defaults plus the emulator's own labels, so a cassette shows it came from one (and which fault)
SCRUBBER = Scrubber(allow_headers=(EMULATOR_HEADER, SYNTHETIC_HEADER))
REQUEST_TIMEOUT_S = 120.0
TRANSIENT_STATUSES = frozenset({408, 409, 429})  # client errors that say "later", not "this request"
STAGING_SUFFIX = ".recording"  # a recording in progress: not *.yaml, so nothing reads it as a cassette
MIN_KEY_LENGTH = 8  # as for environment secrets: a shorter "key" (tests use "dummy") would shred text


def scrubber_for(keys: dict[str, str]) -> Scrubber:
    """SCRUBBER plus the values of the keys this recording uses, whatever variable they came from
    (``--key-env GROQ_SESAME`` names no KEY/TOKEN the environment scan would know)."""
    used = {
        f"key:{sdk}": key
        for sdk, key in keys.items()
        if key not in (DUMMY_KEY, BAD_KEY) and len(key) >= MIN_KEY_LENGTH
    }
    return Scrubber(allow_headers=(EMULATOR_HEADER, SYNTHETIC_HEADER), extra_secrets=used)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=APIS, help="which API (with --all: only this one)")
    parser.add_argument("--scenario", action="append", help="a catalogue scenario (repeatable)")
    parser.add_argument(
        "--all", action="store_true", help="every scenario of the catalogue (for --api, or all APIs)"
    )
    parser.add_argument(
        "--provider", help="provider name for the folder and metadata (default: from the API)"
    )
    parser.add_argument("--model", help="model to ask for (default: the scenario's)")
    parser.add_argument(
        "--base-url", help="send requests here (an OpenAI-compatible server, a proxy, the emulator)"
    )
    parser.add_argument(
        "--key-env", help="read the key from this variable (an OpenAI-compatible server's, e.g. GROQ_API_KEY)"
    )
    parser.add_argument("--emulator", action="store_true", help="start a local emulator and record from it")
    parser.add_argument(
        "--event-delay-ms", type=float, default=0.0, help="with --emulator: pause between events"
    )
    parser.add_argument(
        "--fault",
        type=fault_argument,
        help="emulator only: record the response with this fault (labelled synthetic)",
    )
    parser.add_argument("--list", action="store_true", help="print the scenario catalogue and exit")
    parser.add_argument("--out", type=Path, help="folder to write <provider>/<api>/<scenario>.yaml")


@dataclass(frozen=True)
class Job:
    provider: str
    api: str
    scenario: str
    model: str
    wire_format: str = ""  # the format's name (harness.formats); "" for the api's first format

    @property
    def format(self) -> HarnessFormat:
        return FORMATS[self.wire_format] if self.wire_format else format_for(self.api)

    def path(self, out: Path) -> Path:
        return out / self.provider / self.api / f"{self.scenario}.yaml"


@dataclass
class JobResult:
    job: Job
    path: Path
    status: int | None = None
    events: int = 0
    first_event_s: float | None = None
    total_s: float = 0.0
    error: str | None = None
    expected: bool = False
    written: bool = False  # the recording replaced (or created) the cassette at ``path``


def _selected(fmt: HarnessFormat, api: str | None, provider: str | None) -> bool:
    """Whether ``--all`` records ``fmt``: a provider that speaks formats of its own (``bedrock``)
    picks those; any other names the folder of the api's first format (an OpenAI-compatible one)."""
    if api not in (None, fmt.api):
        return False
    if provider is None or provider not in {f.provider for f in FORMATS.values()}:
        return provider is None or fmt is format_for(fmt.api)
    return fmt.provider == provider


def plan(args: argparse.Namespace) -> list[Job]:
    if args.all:
        pairs = [(fmt, name) for fmt, name in catalogue_formats() if _selected(fmt, args.api, args.provider)]
        if args.scenario:
            pairs = [(fmt, name) for fmt, name in pairs if name in args.scenario]
    else:
        if not args.api or not args.scenario:
            raise ScenarioError("say which: --api and --scenario, or --all")
        pairs = []
        fmt = format_for(args.api, args.provider)
        for name in args.scenario:
            if not scenario(name).applies_to(args.api, args.provider):
                reason = scenario(name).skip_reason(args.api, args.provider)
                raise ScenarioError(f"scenario {name!r} does not exist for {args.api}: {reason}")
            pairs.append((fmt, name))
    for _, name in pairs:
        scenario(name)  # unknown names fail here, before anything is recorded
    return [
        Job(
            args.provider or fmt.provider,
            fmt.api,
            name,
            model_for(fmt.api, name, args.model, fmt.provider),
            fmt.name,
        )
        for fmt, name in pairs
    ]


def is_emulator(base_url: str) -> bool:
    """Whether ``base_url`` is a streamproof emulator (it answers the identity probe)."""
    parts = urlsplit(base_url)
    try:
        reply = httpx2.get(f"{parts.scheme}://{parts.netloc}{IDENTITY_PATH}", timeout=2.0)
        return reply.status_code == 200 and reply.json().get("emulator") == "streamproof"
    except (httpx2.HTTPError, ValueError):
        return False


def catalogue_table() -> Table:
    table = Table(title="streamproof scenarios")
    for column in ("scenario", *FORMATS, "what the emulator answers"):
        table.add_column(column, no_wrap=column == "scenario")
    for item in CATALOGUE.values():
        marks = ["yes" if item.applies_to(fmt.api, fmt.provider) else "no" for fmt in FORMATS.values()]
        table.add_row(item.name, *marks, item.description)
    return table


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    if args.list:
        Console().print(catalogue_table())
        return 0
    if args.out is None:
        err.print("streamproof record: --out DIR is required")
        return 2
    try:
        jobs = plan(args)
    except ScenarioError as exc:
        err.print(f"streamproof record: {exc}")
        return 2
    with ExitStack() as stack:
        base_url: str | None = args.base_url
        if args.emulator:
            emulator = stack.enter_context(Emulator(event_delay=args.event_delay_ms / 1000))
            base_url = emulator.base_url
        source = "emulator" if base_url is not None and is_emulator(base_url) else "live"
        if args.fault is not None and source != "emulator":
            err.print(
                "streamproof record: --fault needs the emulator (--emulator, or a --base-url that is one)"
            )
            return 2
        keys = {}
        for sdk, fmt in {job.format.provider: job.format for job in jobs}.items():
            variable = args.key_env or fmt.key_env
            key = os.environ.get(variable) or (DUMMY_KEY if source == "emulator" else None)
            if key is None:
                err.print(f"streamproof record: set {variable} to record {sdk} live (or use --emulator)")
                return 2
            keys[sdk] = key
        results = []
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task(
                f"recording from {redact_url(base_url) if base_url else 'the providers'} ({source})",
                total=len(jobs),
            )
            for job in jobs:
                progress.update(task, description=f"{job.api} / {job.scenario}")
                results.append(record(job, args.out, base_url, source, keys, args.fault))
                progress.advance(task)
    console = Console()
    console.print(summary(results, source))
    for r in results:
        if not r.expected:
            if not r.written:
                kept = "kept the previous cassette" if r.path.exists() else "no cassette written"
            else:
                kept = "not what the scenario expects, written as there was none before: review"
            problem = r.error or "unexpected success"
            err.print(
                f"streamproof record: {r.job.api}/{r.job.scenario}: {problem}; {kept} {r.path}",
                soft_wrap=True,
            )
    written = sum(1 for r in results if r.written)
    console.print(f"{written} cassette(s) written under {args.out}", soft_wrap=True)
    return 0 if all(result.expected for result in results) else 1


def record(
    job: Job, out: Path, base_url: str | None, source: str, keys: dict[str, str], fault: Fault | None = None
) -> JobResult:
    chosen = CATALOGUE[job.scenario]
    path = job.path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(path.name + STAGING_SUFFIX)  # becomes the cassette only when as expected
    staging.unlink(missing_ok=True)  # a leftover of an interrupted run
    metadata = new_metadata(
        source=source, provider=job.provider, api=job.api, scenario=job.scenario, model=job.model
    )
    result = JobResult(job, path)
    fmt = job.format
    key = BAD_KEY if job.scenario == "bad_key" else keys[fmt.provider]
    scrubber = scrubber_for(keys)
    recorder = CassetteRecorder(staging, metadata=metadata, scrubber=scrubber)
    http_client = httpx2.Client(transport=RecordingTransport(recorder), timeout=REQUEST_TIMEOUT_S)
    client = fmt.client(key=key, base_url=base_url, source=source, http_client=http_client)
    request = chosen.request(job.api, job.model, for_emulator=source == "emulator", provider=fmt.provider)
    headers = {SCENARIO_HEADER: job.scenario} if source == "emulator" else {}
    if fault is not None:
        headers[FAULT_HEADER] = fault.spec
    started = time.monotonic()
    try:
        stream = fmt.open_stream(client, request, headers)
        with stream:
            for _ in stream:
                if result.first_event_s is None:
                    result.first_event_s = time.monotonic() - started
                result.events += 1
        result.status = stream.response.status_code
        result.expected = not isinstance(chosen.answer, Failure)
    except (openai.APIStatusError, anthropic.APIStatusError) as exc:
        result.status = exc.status_code
        result.error = f"{type(exc).__name__}: HTTP {exc.status_code}"
        # an error scenario expects the client error it provokes, not a server's bad moment
        client_error = 400 <= exc.status_code < 500 and exc.status_code not in TRANSIENT_STATUSES
        result.expected = isinstance(chosen.answer, Failure) and client_error
    except (openai.APIError, anthropic.APIError, httpx2.HTTPError, ValueError) as exc:  # ValueError: bad JSON
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.total_s = time.monotonic() - started
        http_client.close()
    if fault is not None:  # whatever the fault did is what we came to record
        result.expected = True
    if not staging.exists():
        result.expected, result.error = False, result.error or "nothing was recorded"
    elif not result.expected and path.exists():
        staging.unlink()  # the previous cassette stays as it was
    else:  # as expected, or a first recording: kept, so that what came back can be looked at
        finalize(staging, source, scrubber)
        if path.exists():  # the cassette keeps the mode it had
            os.chmod(staging, stat.S_IMODE(path.stat().st_mode))
        os.replace(staging, path)
        result.written = True
    return result


def finalize(path: Path, source: str, scrubber: Scrubber = SCRUBBER) -> None:
    """Adds the recorded usage (as the reference stack reads it) to the metadata and, for an
    emulator recording, puts the provider's own URL in place of the emulator's loopback address, so
    the cassette replays for clients pointed at the real service."""
    cassette = load_cassette(path)
    interactions = cassette.interactions
    if source == "emulator":
        interactions = [
            replace(i, request=replace(i.request, uri=canonical_uri(i.request.uri))) for i in interactions
        ]
    outcome = replay_interaction(interactions[-1])
    metadata = dict(cassette.metadata)
    metadata["usage"] = outcome.result.contract_dict()["usage"] if outcome.result is not None else None
    synthetic = [
        i.response.headers[SYNTHETIC_HEADER] for i in interactions if SYNTHETIC_HEADER in i.response.headers
    ]
    if synthetic:
        metadata["synthetic"] = synthetic[-1]  # a fault made this response: say so where people look
    save_cassette(path, Cassette(path, interactions, metadata), scrubber)


def canonical_uri(uri: str) -> str:
    parts = urlsplit(uri)
    fmt = format_for_path(parts.path)
    if fmt is None:
        return uri
    return urlunsplit(("https", fmt.canonical_host, fmt.canonical_path(parts.path), parts.query, ""))


def summary(results: list[JobResult], source: str) -> Table:
    table = Table(title=f"streamproof record ({source})")
    for column in ("api", "scenario", "status", "events", "first event", "total", "result"):
        table.add_column(column, no_wrap=column != "result")
    for r in results:
        first = f"{r.first_event_s * 1000:.1f} ms" if r.first_event_s is not None else "-"
        verdict = "ok" if r.expected else f"UNEXPECTED {r.error or 'success'}"
        if r.expected and r.error:
            verdict = f"ok ({r.error})"
        table.add_row(
            r.job.api,
            r.job.scenario,
            str(r.status or "-"),
            str(r.events),
            first,
            f"{r.total_s * 1000:.1f} ms",
            verdict,
        )
    return table
