"""``streamproof`` entry point. Each subcommand lives in its own module of this package, exposing
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code); modules load only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "replay": "replay recorded interactions through the reference stack and print the outcome",
    "check": "run the conformance battery on an adapter and write a report",
    "matrix": "run the battery for several adapters: one HTML page, a Markdown table and JSON",
    "record": "record provider streams to cassettes (keys from the environment)",
    "emulate": "run a local provider emulator (OpenAI Chat/Responses, Anthropic Messages)",
    "scan": "exit 1 if any file holds a secret-shaped string",
    "bench": "run the performance benchmarks",
    "traces": "print recent provider traces and a usage rollup from the SQLite trace store",
    "cassettes": "list cassettes (provider, api, model, age, tokens, size, source) and the orphans",
}


# what a command imports beyond the base install, and the extra of pyproject.toml that brings it
NEEDS = {
    "check": ("conformance", ("pytest", "syrupy", "pytest_asyncio")),
    "matrix": ("conformance", ("pytest", "syrupy", "pytest_asyncio")),
}
EXTRA_OF = {
    "pytest": "conformance",
    "_pytest": "conformance",
    "syrupy": "conformance",
    "pytest_asyncio": "conformance",
    "opentelemetry": "otel",
    "clickhouse_connect": "clickhouse",
    "chdb": "clickhouse",
}


def missing_extra(name: str) -> str:
    """Why ``streamproof NAME`` cannot run on this install ("" when it can): the extra to install."""
    extra, modules = NEEDS.get(name, ("", ()))
    missing = [module for module in modules if not _importable(module)]
    return _install_hint(name, extra, missing) if missing else ""


def _importable(module: str) -> bool:
    """Whether ``module`` imports (the command imports it next anyway); a module it lacks itself
    is that module's own problem, raised as it is."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] != module:
            raise
        return False
    return True


def _install_hint(name: str, extra: str, missing: list[str]) -> str:
    return (
        f"streamproof {name}: {', '.join(missing)} not installed; "
        f"install the {extra!r} extra: pip install 'streamproof[{extra}]'"
    )


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
    refusal = missing_extra(name)
    if refusal:
        print(refusal, file=sys.stderr)
        return 2
    try:
        module = importlib.import_module(f"streamproof.cli.{name}")
    except ModuleNotFoundError as exc:  # one of an extra's modules: say which extra, not a traceback
        top = (exc.name or "").partition(".")[0]
        if top not in EXTRA_OF:
            raise
        print(_install_hint(name, EXTRA_OF[top], [top]), file=sys.stderr)
        return 2
    command_parser = argparse.ArgumentParser(prog=f"streamproof {name}", description=COMMANDS[name])
    module.add_arguments(command_parser)
    args = command_parser.parse_args(argv[1:])
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
