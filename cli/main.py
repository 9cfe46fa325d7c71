"""``streamproof`` entry point. Each subcommand lives in its own module of this package, exposing
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code); modules load only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "replay": "replay recorded interactions through the reference stack and print the outcome",
    "check": "run the conformance battery on an adapter and write a report",
    "record": "record provider streams to cassettes (keys from the environment)",
    "emulate": "run a local provider emulator (OpenAI Chat/Responses, Anthropic Messages)",
    "scan": "exit 1 if any file holds a secret-shaped string",
    "bench": "run the performance benchmarks",
    "traces": "print recent provider traces and a usage rollup from the SQLite trace store",
    "cassettes": "list cassettes (provider, api, model, age, tokens, size, source) and the orphans",
}


def version() -> str:
    """The installed distribution's version (what ``pip install`` put there)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("streamproof")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="streamproof", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"streamproof {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in COMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if argv[:1] == ["--version"]:
        print(f"streamproof {version()}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # prints usage / the error
        return 2
    name = argv[0]
    module = importlib.import_module(f"streamproof.cli.{name}")
    command_parser = argparse.ArgumentParser(prog=f"streamproof {name}", description=COMMANDS[name])
    module.add_arguments(command_parser)
    args = command_parser.parse_args(argv[1:])
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
