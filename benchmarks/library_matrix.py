"""The library matrix: ``streamproof check --adapter L`` for each wrapped library over case sets.

Not a test and not one of ``streamproof bench``'s modules: it runs the whole battery per library and
set (a minute or more) and prints, per library x set x check, the pass / fail / xfail / skip counts,
then every failing item with its message.

    python -m streamproof.benchmarks.library_matrix [--libraries sdk-helpers,langchain] \\
        [--real ../shared/real-cassettes] [--json matrix.json]

The bundled cassettes are judged against the shipped snapshots; a folder of real recordings against
snapshots made first by the reference stack (``--snapshot-update``) in a scratch folder.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from ..conformance.battery import discover_cases
from ..conformance.libraries import LIBRARY_ADAPTERS
from ..conformance.plugin import bundled_cassettes
from ..conformance.protocol import CHECKS, item_check

STATUSES = ("pass", "fail", "xfail", "skip")
# the distributions whose versions the matrix names, per library
DISTRIBUTIONS = {
    "sdk-helpers": ("openai", "anthropic"),
    "pydantic-ai": ("pydantic-ai-slim",),
    "langchain": ("langchain-openai", "langchain-anthropic", "langchain-core"),
    "litellm": ("litellm",),
    "any-llm": ("any-llm-sdk",),
}


def read_junit(path: Path, cassettes: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """``(case id, check) -> (status, message)`` from the JUnit XML of one ``streamproof check``."""
    by_name = {case.id.replace("/", "."): case.id for case in discover_cases(cassettes)}
    items: dict[tuple[str, str], tuple[str, str]] = {}
    for testcase in ET.parse(path).getroot().iter("testcase"):
        name = testcase.get("name", "")
        inner = name[name.index("[") + 1 : name.rindex("]")]
        case_name, _, check = inner.rpartition("-")
        status, message = "pass", ""
        for child in testcase:
            if child.tag in ("failure", "error"):
                status, message = "fail", child.get("message") or ""
            elif child.tag == "skipped":
                xfail = child.get("type") == "pytest.xfail"
                status, message = ("xfail" if xfail else "skip"), child.get("message") or ""
        items[(by_name.get(case_name, case_name), check)] = (status, message)
    return items


def versions(library: str) -> str:
    found = []
    for distribution in DISTRIBUTIONS[library]:
        try:
            found.append(f"{distribution} {importlib.metadata.version(distribution)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{distribution} (not installed)")
    return ", ".join(found)


def run_check(
    adapter: str, cassettes: Path, snapshots: Path | None, scratch: Path, *, update: bool = False
) -> Path:
    junit = scratch / f"{adapter.replace(':', '_').replace('/', '_')}-{cassettes.name}.xml"
    args = [
        sys.executable,
        "-m",
        "streamproof.cli",
        "check",
        "--adapter",
        adapter,
        "--cassettes",
        str(cassettes),
    ]
    if snapshots is not None:
        args += ["--snapshots", str(snapshots)]
    if update:
        args.append("--snapshot-update")
    subprocess.run([*args, "--junit", str(junit)], capture_output=True, text=True, timeout=1800, check=False)
    return junit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--libraries", default=",".join(name for name in LIBRARY_ADAPTERS if name != "reference")
    )
    parser.add_argument("--real", type=Path, default=None, help="a folder of real recordings as a second set")
    parser.add_argument("--json", type=Path, default=None, help="write every item's verdict here")
    args = parser.parse_args(argv)
    libraries = [name for name in args.libraries.split(",") if name]
    everything: dict[str, dict[str, dict[str, list[str]]]] = {}
    with tempfile.TemporaryDirectory(prefix="streamproof-matrix-") as folder:
        scratch = Path(folder)
        sets: list[tuple[str, Path, Path | None]] = [("bundled", bundled_cassettes(), None)]
        if args.real is not None:
            snapshots = scratch / "real-snapshots"
            run_check("reference", args.real, snapshots, scratch, update=True)  # the reference makes them
            sets.append(("real", args.real, snapshots))
        print("| library | set | check | pass | fail | xfail | skip |")
        print("|---|---|---|---|---|---|---|")
        failures: list[str] = []
        for library in libraries:
            everything[library] = {}
            for set_name, cassettes, set_snapshots in sets:
                items = read_junit(run_check(library, cassettes, set_snapshots, scratch), cassettes)
                everything[library][set_name] = {
                    f"{case}|{check}": [status, message] for (case, check), (status, message) in items.items()
                }
                for check in CHECKS:  # faults: its kinds (faults[rate_limit], ...) together
                    counts = Counter(
                        status for (_case, name), (status, _m) in items.items() if item_check(name) == check
                    )
                    print(
                        f"| {library} | {set_name} | {check} | "
                        + " | ".join(str(counts[s]) for s in STATUSES)
                        + " |"
                    )
                failures += [
                    f"{library} {set_name} {case} {check}: {message.splitlines()[0] if message else ''}"
                    for (case, check), (status, message) in sorted(items.items())
                    if status == "fail"
                ]
        print()
        for library in libraries:
            print(f"- {library}: {versions(library)}")
        print()
        for line in failures:
            print(line)
    if args.json is not None:
        args.json.write_text(json.dumps(everything, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
