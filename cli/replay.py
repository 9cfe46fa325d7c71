"""``streamproof replay CASSETTE... [--format json|text]``: each recorded interaction through the
reference stack. ``json`` prints the JSON Lines of DESIGN.md's "CLI contracts"; ``text`` is for
people. A cassette that cannot be read is reported on stderr (exit 1) and the others still run."""

from __future__ import annotations

import argparse
import gc
import sys

import orjson
from rich.console import Console
from rich.text import Text

from ..adapters.errors import CassetteError
from ..harness.cassette import Interaction, load_cassette
from ..harness.faults import faulted_interaction
from ..harness.outcome import Outcome, replay_interaction
from ..harness.scrub import Scrubber
from .emulate import fault_argument

TEXT_PREVIEW_CHARS = 400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cassettes", nargs="+", metavar="CASSETTE", help="vcrpy cassette files (YAML)")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    parser.add_argument(
        "--fault",
        type=fault_argument,
        help="replay each interaction with this fault injected (harness/faults.py)",
    )


def run(args: argparse.Namespace) -> int:
    # What is alive by now (modules, classes) lives as long as the process: set aside from the
    # garbage collector, a full collection in a long replay does not walk it all again
    # (PERF-FACTS.md, "Garbage-collection pauses"). Back in the collector's care at the end, for
    # a caller in the same process.
    gc.freeze()
    try:
        return _replay(args)
    finally:
        gc.unfreeze()


def _replay(args: argparse.Namespace) -> int:
    exit_code = 0
    console = Console(highlight=False, soft_wrap=True)
    scrubber = Scrubber()  # a cassette not written by us (or before a fix) may still hold a key
    for path in args.cassettes:
        try:
            cassette = load_cassette(path)
        except CassetteError as exc:
            print(f"streamproof replay: {exc}", file=sys.stderr)
            exit_code = 1
            continue
        for recorded in cassette.interactions:
            interaction = faulted_interaction(recorded, args.fault) if args.fault else recorded
            outcome = replay_interaction(interaction, keep_events=False)  # both formats read the result only
            if args.format == "json":
                line = outcome.contract_dict(path, interaction.index, interaction.provider, interaction.api)
                sys.stdout.write(scrubber.scrub_text(orjson.dumps(line).decode()) + "\n")
            else:
                console.print(_scrubbed(describe(path, interaction, outcome), scrubber))
    sys.stdout.flush()
    return exit_code


def _scrubbed(text: Text, scrubber: Scrubber) -> Text:
    """``text`` with no secret in it; unstyled when one was taken out (the styles' offsets moved)."""
    plain = scrubber.scrub_text(text.plain)
    return text if plain == text.plain else Text(plain)


def _preview(text: str) -> str:
    """At most TEXT_PREVIEW_CHARS characters, continuation lines indented under their label."""
    if len(text) > TEXT_PREVIEW_CHARS:
        text = f"{text[:TEXT_PREVIEW_CHARS]}… ({len(text) - TEXT_PREVIEW_CHARS} more characters)"
    return text.replace("\n", "\n    ")


def describe(path: str, interaction: Interaction, outcome: Outcome) -> Text:
    """A few readable lines for one interaction (no markup is read from the recorded content)."""
    out = Text()
    mode = "streamed" if outcome.streamed else "not streamed"
    out.append(f"{path} #{interaction.index}", style="bold")
    out.append(f"  {interaction.provider}/{interaction.api}  HTTP {outcome.status}  {mode}\n")
    if outcome.error is not None:
        out.append(f"  error: {type(outcome.error).__name__}: {outcome.error}\n", style="red")
    result = outcome.result
    if result is None:
        if outcome.error is None:
            request = interaction.request
            out.append(
                f"  {request.method} {request.path}: not a chat, responses or messages call\n", style="dim"
            )
        return out
    if result.reasoning_text:
        out.append(f"  reasoning: {_preview(result.reasoning_text)}\n", style="dim")
    if result.text:
        out.append(f"  text: {_preview(result.text)}\n")
    if result.refusal is not None:
        out.append(f"  refusal: {_preview(result.refusal)}\n", style="yellow")
    for call in result.tool_calls:
        out.append(f"  tool call {call.name} ({call.id}): {_preview(call.arguments)}\n", style="cyan")
    usage = ", ".join(
        f"{name}={value}" for name, value in result.usage.public_dict().items() if value is not None
    )
    out.append(f"  usage: {usage or 'not reported'}\n")
    out.append(
        f"  stop: {result.stop_reason} (provider: {result.provider_stop_reason})  model: {result.model}\n"
    )
    return out
