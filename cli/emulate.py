"""``streamproof emulate --port N [--host 127.0.0.1] [--cassettes DIR] [--fault KIND]``: run the provider
emulator until interrupted (Ctrl-C / SIGTERM) and print the base URLs to give the SDKs.

Pick a scenario per request with the ``x-streamproof-scenario`` header or a model named
``streamproof-<scenario>``; inject a fault per request with ``x-streamproof-fault: SPEC`` or for
every response with ``--fault SPEC`` (see ``harness/faults.py`` for the kinds)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from ..adapters.errors import StreamproofError
from ..harness.emulator import Emulator
from ..harness.emulator.server import FAULT_HEADER, IDLE_TIMEOUT_S, MAX_CONNECTIONS
from ..harness.faults import FAULT_KINDS, Fault, FaultError, parse_fault
from ..harness.scenarios import CATALOGUE, SCENARIO_HEADER


def fault_argument(spec: str) -> Fault:
    """``--fault SPEC`` for argparse: a bad spec becomes a usage error that names the problem."""
    try:
        return parse_fault(spec)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, required=True, help="port to listen on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--cassettes", type=Path, help="serve these recorded cassettes instead of scripted scenarios"
    )
    parser.add_argument(
        "--fault",
        type=fault_argument,
        help=f"inject into every response: {', '.join(FAULT_KINDS)} (KIND[:key=value,...])",
    )
    parser.add_argument("--event-delay-ms", type=float, default=0.0, help="pause between scripted SSE events")
    parser.add_argument("--gzip", action="store_true", help="gzip SSE bodies on the wire, as Anthropic does")
    parser.add_argument(
        "--instant", action="store_true", help="serve cassettes without their recorded timing"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=IDLE_TIMEOUT_S,
        help="disconnect a client silent this many seconds",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=None,
        help=f"connections served at once (default {MAX_CONNECTIONS}, or half the descriptor limit)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        fault = args.fault
        emulator = Emulator(
            args.host,
            args.port,
            cassettes=args.cassettes,
            fault=fault,
            event_delay=args.event_delay_ms / 1000,
            recorded_timing=not args.instant,
            gzip_sse=args.gzip,
            idle_timeout=args.idle_timeout,
            max_connections=args.max_connections,
        )
        emulator.start()
    except (StreamproofError, OSError, ValueError) as exc:  # ValueError: a bad limit
        print(f"streamproof emulate: {exc}", file=sys.stderr)
        return 2
    for unreadable in emulator.library.unreadable if emulator.library is not None else []:
        print(f"streamproof emulate: not serving {unreadable}", file=sys.stderr)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: it may arrive ignored-by-default
        signal.signal(signum, on_signal)
    serving = f"cassettes from {args.cassettes}" if args.cassettes else f"scenarios: {', '.join(CATALOGUE)}"
    print(f"streamproof emulator listening on {emulator.base_url}")
    print(f"  OpenAI (chat, responses): base_url={emulator.openai_base_url}")
    print(f"  Anthropic (messages):     base_url={emulator.anthropic_base_url}")
    print(f"  Bedrock (messages):       base_url={emulator.base_url} (AnthropicBedrock, any AWS keys)")
    print(f"  serving {serving}" + (f"; fault on every response: {fault.spec}" if fault else ""))
    print(f"  pick a scenario: header {SCENARIO_HEADER}: NAME, or model streamproof-NAME (default: text)")
    print(f"  inject a fault per request: header {FAULT_HEADER}: KIND[:key=value,...]")
    print("  any API key works; Ctrl-C stops", flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0
