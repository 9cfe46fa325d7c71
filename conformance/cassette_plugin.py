"""pytest integration for your own tests: record and replay provider streams through your SDK calls.

Loaded with the ``streamproof`` plugin; inert unless a test uses the ``cassette`` marker or fixture,
or ``--block-network`` is given. A marked test runs with every httpx2/httpx client routed through its
cassette (``harness.intercept``): clients the test passes as ``http_client=`` and clients a library
builds itself, sync and async. Replayed responses reach the SDK in their recorded chunks, at the
pace asked; recording tees the live stream, so the SDK still streams while it is written.

    @pytest.mark.cassette                       # <test dir>/cassettes/<module>/<test>.yaml
    @pytest.mark.cassette("shared.yaml", pace="recorded", stale="warn")
    def test_summary(cassette): ...             # cassette.played, cassette.unplayed, cassette.path

Options: ``--record-mode none|once|new_episodes|all|rewrite`` (default ``none``: replay only),
``--block-network`` (every test), ``--allowed-hosts a,b`` (names or addresses; loopback only when
listed). In record mode ``none`` a cassette test runs with the network blocked. Configuration
comes from the ``streamproof_config`` fixture (override it at any level; request the outer one to
extend it, as with pytest-recording's ``vcr_config``), then the marker's keyword arguments (module,
class, then function markers; the closest wins). Keys: see ``CONFIG_KEYS``.

At the end of a test that replayed, interactions it never played (a stale tail) fail it, naming
them (``stale="warn"`` warns, ``"ignore"`` says nothing). Every write is scrubbed and atomic, one
file per test, so recording under ``pytest -n auto`` loses nothing.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ..adapters.errors import CassetteError, StreamproofError

if TYPE_CHECKING:
    from ..harness.cassette import Interaction
    from ..harness.replayer import CassetteSession
    from ..harness.scrub import Scrubber

MARKER = "cassette"
RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")
STALE_POLICIES = ("fail", "warn", "ignore")
# What ``streamproof_config`` and the marker accept (vcr_config keys that mean the same carry over).
CONFIG_KEYS = {
    "record_mode": "none | once | new_episodes | all | rewrite (the command line wins)",
    "cassette_dir": "folder of this module's cassettes (default <test dir>/cassettes/<module>)",
    "cassette_library_dir": "vcr_config's name for cassette_dir",
    "ignore_paths": "JSON paths of the request body left out of matching ('stream_options', 'messages[*].id')",
    "pace": "'instant' (default), 'recorded', or a float that scales the recorded gaps",
    "chunking": "'recorded' (default), 'events', 'random' (with seed) or 'bytes'",
    "seed": "seed of chunking='random'",
    "gzip_wire": "serve bodies gzip-compressed, as Anthropic does",
    "filter_headers": "request/response headers never written (on top of the credentials always dropped)",
    "allow_headers": "headers to keep beyond the default allowlist",
    "extra_secrets": "{name: value} of literal secrets to scrub",
    "body_filters": "callables bytes -> bytes run on every body before it is written",
    "stale": "'fail' (default), 'warn' or 'ignore': interactions a test never played",
    "block_network": "True / False; default: blocked in record mode none",
    "allowed_hosts": "hosts a blocked test may still reach",
    "decode_compressed_response": "accepted for vcr_config; bodies are always stored decoded",
    "max_age_days": "older cassettes (by recorded_at) warn in mode none and are re-recorded in a record mode",
}
USED_FOLDER = ".streamproof-used"  # per cassette folder: which cassettes the last run used
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.,=+\[\]-]+")


class CassetteConfigError(StreamproofError):  # type: ignore[misc,unused-ignore]
    """A ``streamproof_config`` or marker option that is unknown or has a bad value."""


class StaleCassette(CassetteError):  # type: ignore[misc,unused-ignore]
    """Interactions of a cassette that the test never played."""


def _pytest_recording_installed() -> bool:
    """pytest-recording defines the same three options (same names, same meanings): two plugins
    adding one option stop pytest at start-up, so with it installed we read its options."""
    try:
        importlib_metadata.distribution("pytest-recording")
    except importlib_metadata.PackageNotFoundError:
        return False
    return True


def pytest_addoption(parser: pytest.Parser) -> None:
    if _pytest_recording_installed():
        return
    group = parser.getgroup("streamproof-cassettes", "streamproof cassettes in your own tests")
    group.addoption(
        "--record-mode",
        choices=RECORD_MODES,
        default=None,
        help="cassette record mode (default: none, replay only; rewrite: record each used cassette afresh)",
    )
    group.addoption(
        "--block-network", action="store_true", default=False, help="block the network in every test"
    )
    group.addoption(
        "--allowed-hosts",
        default=None,
        metavar="HOSTS",
        help="comma-separated hosts a blocked test may reach (loopback only when listed)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "cassette(*paths, **options): record and replay this test's HTTP through a streamproof cassette",
    )
    config.addinivalue_line("markers", "block_network(allowed_hosts=()): no network in this test")


# -- configuration ---------------------------------------------------------------------------


def merged_options(node: pytest.Item, config: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The cassette paths and options of ``node``: ``config``, then its markers outermost first."""
    options = dict(config)
    paths: tuple[str, ...] = ()
    for marker in reversed(list(node.iter_markers(MARKER))):
        options.update(marker.kwargs)
        if marker.args:
            paths = tuple(str(arg) for arg in marker.args)
    unknown = sorted(set(options) - set(CONFIG_KEYS))
    if unknown:
        known = ", ".join(CONFIG_KEYS)
        raise CassetteConfigError(f"unknown cassette option(s) {unknown}; known: {known}")
    if "cassette_library_dir" in options:
        options.setdefault("cassette_dir", options.pop("cassette_library_dir"))
    return paths, options


def cassette_file_name(node: pytest.Item) -> str:
    """``test_x`` / ``TestClass.test_x[param]``, safe as a file name."""
    cls = getattr(node, "cls", None)
    name = f"{cls.__name__}.{node.name}" if cls is not None else node.name
    return _UNSAFE_NAME.sub("-", name)


def cassette_dir(node: pytest.Item, options: Mapping[str, Any]) -> Path:
    test_dir = node.path.parent
    configured = options.get("cassette_dir")
    if configured is not None:
        return test_dir / Path(configured)
    return test_dir / "cassettes" / node.path.stem


def record_mode(config: pytest.Config, options: Mapping[str, Any]) -> str:
    mode = config.getoption("record_mode", None) or options.get("record_mode") or "none"
    if mode not in RECORD_MODES:
        raise CassetteConfigError(f"record_mode must be one of {RECORD_MODES}, got {mode!r}")
    return str(mode)


def allowed_hosts(config: pytest.Config, options: Mapping[str, Any]) -> list[str]:
    given = config.getoption("allowed_hosts", None) or ""
    hosts = [host.strip() for host in (",".join(given) if isinstance(given, list) else given).split(",")]
    hosts = [host for host in hosts if host]
    configured = options.get("allowed_hosts") or ()
    if isinstance(configured, str):
        configured = configured.split(",")
    return hosts + [str(host).strip() for host in configured]


# -- the active cassette ---------------------------------------------------------------------


@dataclass
class ActiveCassette:
    """What the ``cassette`` fixture hands a test: the cassette and what the test did with it."""

    path: Path
    mode: str
    session: CassetteSession
    options: dict[str, Any]
    extra_paths: list[Path] = field(default_factory=list)
    own: int = 0  # interactions of ``path`` itself: the extra cassettes' follow them

    @property
    def stale_tail(self) -> list[Interaction]:
        """The unplayed interactions of this test's own cassette (shared extra ones may stay unused)."""
        return [item for item in self.unplayed if item.index < self.own]

    @property
    def interactions(self) -> list[Interaction]:
        """What the cassette held when the test started (empty when it records afresh)."""
        return list(self.session.player.interactions)

    @property
    def unplayed(self) -> list[Interaction]:
        return self.session.player.unplayed if self.session.replays else []

    @property
    def played(self) -> list[Interaction]:
        left = {id(item) for item in self.unplayed}
        return [item for item in self.interactions if id(item) not in left] if self.session.replays else []

    @property
    def recorded(self) -> list[Interaction]:
        """The interactions recorded during this test."""
        return self.session.recorder.recorded if self.session.recorder is not None else []

    def transport(self) -> Any:
        """A transport for ``httpx2.Client(transport=...)`` / ``httpx.Client``: the direct path."""
        return self.session.transport()

    def async_transport(self) -> Any:
        return self.session.async_transport()

    def stale_message(self) -> str | None:
        unplayed = self.stale_tail
        if not unplayed:
            return None
        listed = ", ".join(f"#{item.index} {item.request.method} {item.request.uri}" for item in unplayed)
        return (
            f"{len(unplayed)} recorded interaction(s) never played by this test (a stale tail): {listed}; "
            "re-record with --record-mode rewrite, or set stale='warn' or 'ignore'"
        )


def _scrubber(options: Mapping[str, Any]) -> Scrubber:
    from ..harness.scrub import Scrubber

    return Scrubber(
        extra_secrets=options.get("extra_secrets"),
        allow_headers=options.get("allow_headers", ()),
        drop_headers=options.get("filter_headers", ()),
        body_filters=options.get("body_filters", ()),
    )


def open_cassette(
    path: Path, mode: str, options: Mapping[str, Any], extra: Sequence[Path] = ()
) -> ActiveCassette:
    """The session for ``path`` in ``mode``; ``extra`` cassettes are replayed too, never written."""
    from ..harness.cassette import load_cassette
    from ..harness.replayer import CassetteSession, ReplayOptions

    stale = options.get("stale", "fail")
    if stale not in STALE_POLICIES:
        raise CassetteConfigError(f"stale must be one of {STALE_POLICIES}, got {stale!r}")
    replay = ReplayOptions(
        pace=options.get("pace", "instant"),
        chunking=options.get("chunking", "recorded"),
        seed=int(options.get("seed", 0)),
        gzip_wire=bool(options.get("gzip_wire", False)),
    )
    extras = [load_cassette(p) for p in extra if p.exists()]
    # Mode none and no file yet: as with vcrpy, a test that sends nothing passes; a request fails
    # (no interaction matches), and nothing is recorded.
    missing = mode == "none" and not path.exists()
    session = CassetteSession(
        path,
        "rewrite" if missing else mode,  # type: ignore[arg-type]
        ignore_paths=options.get("ignore_paths", ()),
        options=replay,
        scrubber=_scrubber(options),
    )
    if missing:
        session.recorder, session.replays = None, True
    own = len(session.player.interactions)
    for cassette in extras:
        session.player.add(cassette.interactions)
    return ActiveCassette(path, mode, session, dict(options), extra_paths=list(extra), own=own)


@contextmanager
def activated(active: ActiveCassette, block: bool, hosts: list[str]) -> Iterator[ActiveCassette]:
    """Route every httpx2/httpx client through ``active`` (and block the network) for a block."""
    from ..harness.intercept import routed_through
    from ..harness.network import blocked_network

    with ExitStack() as stack:
        if block:
            stack.enter_context(blocked_network(hosts))
        stack.enter_context(routed_through(active.session))
        yield active


def _finish_rewrite(active: ActiveCassette) -> None:
    """A rewritten cassette that recorded nothing is gone: nothing of the old one may replay later."""
    if active.mode == "rewrite" and not active.recorded:
        active.path.unlink(missing_ok=True)


ACTIVE = pytest.StashKey[ActiveCassette]()
USED = pytest.StashKey[set[Path]]()


def age_days(recorded_at: Any) -> float | None:
    """Days since a cassette's ``recorded_at`` (None: not ours, or not a date)."""
    if not isinstance(recorded_at, str):
        return None
    try:
        when = datetime.fromisoformat(recorded_at)
    except ValueError:
        return None
    when = when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - when).total_seconds() / 86400


def cassette_age_days(path: Path) -> float | None:
    from ..harness.cassette import load_cassette

    return age_days(load_cassette(path).metadata.get("recorded_at"))


def aged_mode(path: Path, mode: str, max_age_days: Any) -> str:
    """``mode``, or ``rewrite`` for a cassette older than ``max_age_days`` in a record mode (a
    warning in mode none: it cannot be re-recorded there)."""
    if max_age_days is None or not path.exists():
        return mode
    age = cassette_age_days(path)
    if age is None or age <= float(max_age_days):
        return mode
    if mode == "none":
        warnings.warn(
            f"{path}: recorded {age:.0f} days ago, older than max_age_days={max_age_days}; "
            "re-record it with --record-mode once",
            stacklevel=1,
        )
        return mode
    return "rewrite"


def _used(config: pytest.Config) -> set[Path]:
    used = config.stash.get(USED, None)
    if used is None:
        used = config.stash[USED] = set()
    return used


def _run_id(config: pytest.Config) -> str:
    """One id for the whole run, shared by pytest-xdist workers."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return f"{workerinput['testrunuid']}-{workerinput['workerid']}"
    return f"{os.getpid()}-{time.time_ns()}"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Notes, beside each cassette folder, which cassettes this run used (``streamproof cassettes``
    lists the others as orphans); earlier runs' notes go."""
    used = session.config.stash.get(USED, None)
    if not used:
        return
    run_id = _run_id(session.config)
    run = run_id.rsplit("-", 1)[0]
    by_folder: dict[Path, list[str]] = {}
    for path in used:
        by_folder.setdefault(path.parent, []).append(path.name)
    for folder, names in by_folder.items():
        try:
            _note_used(folder / USED_FOLDER, run, run_id, names)
        except OSError as exc:  # a read-only folder: the listing cannot name orphans, nothing else
            warnings.warn(f"streamproof: cannot note the cassettes used in {folder}: {exc}", stacklevel=1)


def _note_used(notes: Path, run: str, run_id: str, names: list[str]) -> None:
    notes.mkdir(parents=True, exist_ok=True)
    for old in notes.glob("*.json"):
        if not old.name.startswith(f"{run}-"):
            old.unlink(missing_ok=True)
    note = {"run": run, "finished_at": time.time(), "used": sorted(names)}
    temp = notes / f".{run_id}.tmp"
    temp.write_text(json.dumps(note), encoding="utf-8")
    os.replace(temp, notes / f"{run_id}.json")


@pytest.fixture(scope="session")
def streamproof_config() -> dict[str, Any]:
    """Options for every cassette test; override at any level (see the module docstring)."""
    return {}


@pytest.fixture
def cassette(
    request: pytest.FixtureRequest, streamproof_config: Mapping[str, Any]
) -> Iterator[ActiveCassette]:
    """The test's cassette, active for the whole test (marker options apply)."""
    node = request.node
    assert isinstance(node, pytest.Item)
    paths, options = merged_options(node, streamproof_config)
    folder = cassette_dir(node, options)
    files = [folder / p for p in paths] or [folder / f"{cassette_file_name(node)}.yaml"]
    mode = aged_mode(files[0], record_mode(request.config, options), options.get("max_age_days"))
    block = options.get("block_network")
    if block is None:
        block = mode == "none" or request.config.getoption("block_network", False)
    active = open_cassette(files[0], mode, options, files[1:])
    _used(request.config).update(files)
    with activated(active, bool(block), allowed_hosts(request.config, options)):
        node.stash[ACTIVE] = active
        try:
            yield active
        finally:
            del node.stash[ACTIVE]
    _finish_rewrite(active)


@pytest.fixture(autouse=True)
def _streamproof_cassette_marker(request: pytest.FixtureRequest) -> Iterator[None]:
    """Activates the cassette of a marked test, and blocks the network under ``--block-network``."""
    node = request.node
    if node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("cassette")
        yield
        return
    marker = node.get_closest_marker("block_network")
    if not request.config.getoption("block_network", False) and marker is None:
        yield
        return
    from ..harness.network import blocked_network

    hosts = allowed_hosts(
        request.config, {"allowed_hosts": marker.kwargs.get("allowed_hosts") if marker else ()}
    )
    with blocked_network(hosts):
        yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A test that passed but left recorded interactions unplayed fails (or warns), naming them."""
    result = yield
    active = item.stash.get(ACTIVE, None)
    if active is not None:
        message = active.stale_message()
        policy = active.options.get("stale", "fail")
        if message is not None and policy == "fail":
            raise StaleCassette(active.path, message)
        if message is not None and policy == "warn":
            warnings.warn(f"{active.path}: {message}", stacklevel=1)
    return result
