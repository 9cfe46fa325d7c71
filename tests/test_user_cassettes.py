"""The pytest integration for users' own tests, end to end: tests/user_style/usertest_sdk_calls.py
(the real OpenAI and Anthropic SDKs) recorded against the emulator, then replayed with the
emulator stopped and the network blocked. Each phase is its own pytest process, as in CI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamproof.harness.cassette import load_cassette
from streamproof.harness.emulator import Emulator

USER_MODULE = Path(__file__).parent / "user_style" / "usertest_sdk_calls.py"
# Key-shaped values invented here, planted in the environment of every run.
PLANTED = {
    "OPENAI_API_KEY": "sk-proj-" + "Zq7" * 12,
    "ANTHROPIC_API_KEY": "sk-ant-api03-" + "Kx9" * 12,
    "USER_STYLE_SERVICE_TOKEN": "svc_" + "w8Hq" * 6,  # no known shape: caught as an env secret value
}
INI = "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"


@dataclass
class Project:
    root: Path
    out: Path
    base_url: str

    @property
    def cassettes(self) -> Path:
        return self.root / "cassettes" / "test_sdk_calls"

    def run(self, *args: str, phase: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {
            **os.environ,
            **PLANTED,
            "USER_STYLE_BASE_URL": self.base_url,
            "USER_STYLE_OUT": str(self.out),
            "USER_STYLE_PHASE": phase,
            **env,
        }
        environ.pop("PYTEST_ADDOPTS", None)
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args],
            cwd=self.root,
            env=environ,
            capture_output=True,
            text=True,
            timeout=180,
        )

    def seen(self, phase: str) -> dict[str, dict[str, object]]:
        prefix = f"{phase}-"
        return {
            path.stem[len(prefix) :]: json.loads(path.read_text())
            for path in self.out.glob(f"{prefix}*.json")
        }


def _project(root: Path) -> Project:
    root.mkdir()
    shutil.copy(USER_MODULE, root / "test_sdk_calls.py")
    (root / "pytest.ini").write_text(INI)
    out = root / "seen"
    out.mkdir()
    return Project(root, out, "")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    """Recorded under ``-n 2`` against a live emulator, then replayed with the emulator stopped."""
    project = _project(tmp_path_factory.mktemp("user") / "project")
    with Emulator() as emulator:
        project.base_url = emulator.base_url
        result = project.run("--record-mode", "once", "-n", "2", phase="record")
    assert result.returncode == 0, result.stdout + result.stderr
    replay = project.run(phase="replay")  # record mode none: network blocked by default
    assert replay.returncode == 0, replay.stdout + replay.stderr
    yield project


USER_TESTS = [
    "openai_chat_streamed_sync",
    "openai_chat_streamed_async",
    "openai_chat_not_streamed",
    "anthropic_streamed_sync",
    "anthropic_streamed_async",
    "anthropic_not_streamed",
    "httpx_async_by_hand",
    "two_turns",
]


def test_recording_under_xdist_writes_every_cassette_once(recorded: Project) -> None:
    files = sorted(path.name for path in recorded.cassettes.iterdir() if path.name != ".streamproof-used")
    assert files == sorted(
        f"test_{name}.yaml"
        for name in (
            "openai_chat_streamed_sync_own_client",
            "openai_chat_streamed_async_library_client",
            "openai_chat_not_streamed_legacy_httpx_client",
            "anthropic_messages_streamed_sync_library_client",
            "anthropic_messages_streamed_async_own_client",
            "anthropic_messages_not_streamed_async_library_client",
            "a_library_with_its_own_httpx_async_client",
            "two_turns",
        )
    )  # no temp file left behind, no file per worker
    counts = {path.stem: len(load_cassette(path).interactions) for path in recorded.cassettes.glob("*.yaml")}
    assert counts.pop("test_two_turns") == 2
    assert set(counts.values()) == {1}


@pytest.mark.parametrize("name", USER_TESTS)
def test_replay_gives_the_sdk_the_recorded_chunks_and_results(recorded: Project, name: str) -> None:
    live, replayed = recorded.seen("record")[name], recorded.seen("replay")[name]
    assert replayed == live
    if "chunks" in live:  # the tests that watch their own transport: the very same network chunks
        chunks = live["chunks"]
        assert isinstance(chunks, list) and chunks and replayed["chunks"] == chunks


def test_streamed_replay_keeps_more_than_one_chunk(recorded: Project) -> None:
    """The emulator flushes each SSE event: the recording kept those boundaries, and so did replay."""
    chunks = recorded.seen("replay")["anthropic_streamed_async"]["chunks"]
    assert isinstance(chunks, list) and len(chunks) > 3


def test_planted_secrets_never_reach_the_cassettes(recorded: Project) -> None:
    for path in recorded.cassettes.glob("*.yaml"):
        text = path.read_bytes()
        for name, value in PLANTED.items():
            assert value.encode() not in text, f"{name} in {path.name}"
    body = load_cassette(recorded.cassettes / "test_two_turns.yaml").interactions[0].request.body
    assert b"<REDACTED:env:USER_STYLE_SERVICE_TOKEN>" in (body or b"")


def test_rewrite_replaces_one_cassette_and_only_it(recorded: Project, tmp_path: Path) -> None:
    shutil.copytree(recorded.root, tmp_path / "project")  # the shared recording stays as it is
    copy = Project(tmp_path / "project", tmp_path / "project" / "seen", recorded.base_url)
    before = {path.name: path.read_bytes() for path in copy.cassettes.glob("*.yaml")}
    with Emulator() as emulator:  # a fresh server (another port): the rewritten cassette says so
        copy.base_url = emulator.base_url
        result = copy.run(
            "--record-mode", "rewrite", "-k", "two_turns", phase="rewrite", USER_STYLE_TURNS="1"
        )
    assert result.returncode == 0, result.stdout + result.stderr
    after = {path.name: path.read_bytes() for path in copy.cassettes.glob("*.yaml")}
    assert after.keys() == before.keys()
    changed = sorted(name for name in after if after[name] != before[name])
    assert changed == ["test_two_turns.yaml"]
    rewritten = load_cassette(copy.cassettes / "test_two_turns.yaml")
    assert len(rewritten.interactions) == 1  # the old second turn is gone, not kept
    assert emulator.base_url.rsplit(":", 1)[1] in rewritten.interactions[0].request.uri


def test_stale_tail_fails_the_test_naming_it(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    with Emulator() as emulator:
        project.base_url = emulator.base_url
        assert project.run("--record-mode", "once", "-k", "two_turns", phase="record").returncode == 0
    result = project.run("-k", "two_turns", phase="replay", USER_STYLE_TURNS="1")
    assert result.returncode == 1
    assert "FAILED test_sdk_calls.py::test_two_turns" in result.stdout
    assert "never played by this test (a stale tail): #1 POST " in result.stdout
    assert f"{project.base_url}/v1/chat/completions" in result.stdout
    assert "test_two_turns.yaml" in result.stdout
    changed = project.run("-k", "two_turns", phase="replay", USER_STYLE_TURN_WORD="round")
    assert changed.returncode == 1  # a changed request never replays silently: the miss says where
    assert "nearest is interaction 0" in changed.stdout
    assert "first difference at messages[1].content: recorded 'turn 0', sent 'round 0'" in changed.stdout


def test_a_blocked_connection_names_the_host(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    project.base_url = "http://127.0.0.1:9"
    result = project.run("--block-network", "-k", "forgot or local_server", phase="blocked")
    assert result.returncode == 1, result.stdout
    assert "FAILED test_sdk_calls.py::test_forgot_the_marker" in result.stdout
    assert "blocked a network connection to api.openai.com" in result.stdout
    assert "FAILED test_sdk_calls.py::test_local_server_without_the_marker" in result.stdout
    assert "blocked a network connection to 127.0.0.1:9" in result.stdout
    allowed = project.run(
        "--block-network", "--allowed-hosts", "127.0.0.1", "-k", "local_server", phase="blocked"
    )
    assert "ConnectionRefusedError" in allowed.stdout  # allowed: it reached the (closed) port


def test_an_active_cassette_builds_no_network_transport(tmp_path: Path) -> None:
    """While a cassette replays, the SDK's own client never builds its connection pool (nor the SSL
    context, most of a short replayed test); the pool is built only if the client is used later."""
    import openai

    from streamproof.conformance.cassette_plugin import activated, open_cassette
    from streamproof.harness.intercept import DeferredPool

    path = tmp_path / "chat.yaml"
    with Emulator() as emulator:
        with activated(open_cassette(path, "once", {}), block=False, hosts=[]):
            client = openai.OpenAI(base_url=emulator.openai_base_url, api_key=PLANTED["OPENAI_API_KEY"])
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        base_url = emulator.openai_base_url
    with activated(open_cassette(path, "none", {}), block=True, hosts=[]) as active:
        client = openai.OpenAI(base_url=base_url, api_key=PLANTED["OPENAI_API_KEY"])
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        pool = client._client._transport._pool
        assert isinstance(pool, DeferredPool) and not pool.built
        assert reply.choices[0].message.content and not active.unplayed
    client.close()
    assert not pool.built  # closing a never-used pool does not build it either


def test_streamproof_config_merges_session_module_and_marker(tmp_path: Path) -> None:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "pytest.ini").write_text(INI)
    (root / "tests" / "conftest.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture(scope='session')\n"
        "def streamproof_config():\n"
        "    return {'cassette_library_dir': 'recorded', 'ignore_paths': ['metadata'], 'pace': 'recorded'}\n"
    )
    (root / "tests" / "test_cfg.py").write_text(
        "import pytest\n\n"
        "pytestmark = pytest.mark.cassette(stale='ignore', seed=1)\n\n"
        "@pytest.fixture\n"
        "def streamproof_config(streamproof_config):\n"
        "    return {**streamproof_config, 'pace': 0.5}\n\n"
        "class TestGroup:\n"
        "    @pytest.mark.cassette(seed=2)\n"
        "    def test_merged(self, cassette):\n"
        "        assert cassette.options == {'cassette_dir': 'recorded', 'ignore_paths': ['metadata'],\n"
        "                                    'pace': 0.5, 'stale': 'ignore', 'seed': 2}\n"
        "        assert cassette.path == cassette.path.parents[1] / 'recorded' / 'TestGroup.test_merged.yaml'\n"
        "        assert cassette.session.options.time_scale == 0.5\n\n"
        "@pytest.mark.cassette(match_on=['body'])\n"
        "def test_unknown_key(cassette):\n"
        "    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--record-mode", "once"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "1 passed, 1 error" in result.stdout, result.stdout
    assert "unknown cassette option(s) ['match_on']" in result.stdout


def test_recorded_and_scaled_pace_reach_the_sdk(tmp_path: Path) -> None:
    """Recorded with 40 ms between events: replayed at recorded pace the SDK waits for each chunk."""
    import time

    import openai

    from streamproof.conformance.cassette_plugin import activated, open_cassette

    path = tmp_path / "slow.yaml"
    messages = [{"role": "user", "content": "hi"}]
    with Emulator(event_delay=0.04) as emulator:
        base_url = emulator.openai_base_url
        with activated(open_cassette(path, "once", {}), block=False, hosts=[]):
            client = openai.OpenAI(base_url=base_url, api_key=PLANTED["OPENAI_API_KEY"])
            started = time.monotonic()
            live = [
                time.monotonic() - started
                for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
            ]
    # recording tees the stream: the SDK had its first event long before the last (not buffered)
    assert live[-1] - live[0] >= 0.04 * (len(live) - 2)
    recorded = load_cassette(path).interactions[0].response.chunks
    assert recorded is not None and len(recorded) == len(live) + 1  # + the [DONE] event
    span = recorded[-1][1] - recorded[0][1]
    assert span > 0.04 * (len(live) - 1)
    for pace, share in (("recorded", 1.0), (0.5, 0.5)):
        with activated(open_cassette(path, "none", {"pace": pace}), block=True, hosts=[]):
            client = openai.OpenAI(base_url=base_url, api_key=PLANTED["OPENAI_API_KEY"])
            started = time.monotonic()
            arrivals = [
                time.monotonic() - started
                for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
            ]
        assert len(arrivals) == len(live)
        assert arrivals[-1] - arrivals[0] >= share * (recorded[-2][1] - recorded[0][1]) * 0.95


def test_cassettes_command_lists_them_and_the_orphans(recorded: Project, tmp_path: Path) -> None:
    copy = Project(tmp_path / "project", tmp_path / "project" / "seen", recorded.base_url)
    shutil.copytree(recorded.root, copy.root)
    shutil.copy(copy.cassettes / "test_two_turns.yaml", copy.cassettes / "test_deleted_long_ago.yaml")
    assert copy.run(phase="replay").returncode == 0  # this run notes what it used
    folder = copy.cassettes
    result = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "cassettes", str(folder), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    listed = {item["path"]: item for item in json.loads(result.stdout)["cassettes"]}
    assert len(listed) == 9
    orphans = sorted(path for path, item in listed.items() if item["orphan"])
    assert orphans == ["test_deleted_long_ago.yaml"]
    chat = listed["test_openai_chat_streamed_sync_own_client.yaml"]
    assert (chat["provider"], chat["api"], chat["model"], chat["source"]) == (
        "openai",
        "chat",
        "gpt-4o-mini",
        "live",
    )
    assert chat["recorded_at"] and 0 <= chat["age_days"] < 1
    assert chat["tokens"] is None  # streamed without stream_options.include_usage: no usage to count
    assert listed["test_openai_chat_not_streamed_legacy_httpx_client.yaml"]["tokens"] > 0
    assert chat["size"] == (folder / chat["path"]).stat().st_size
    anthropic = listed["test_anthropic_messages_not_streamed_async_library_client.yaml"]
    assert (anthropic["provider"], anthropic["api"]) == ("anthropic", "messages")
    too_old = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "cassettes", str(folder), "--max-age-days", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert too_old.returncode == 1 and too_old.stdout.count("TOO OLD") == 9
    assert "orphans (no test used them in the last run): test_deleted_long_ago.yaml" in too_old.stdout


def test_max_age_warns_in_mode_none_and_rerecords_in_a_record_mode(tmp_path: Path) -> None:
    from streamproof.conformance.cassette_plugin import aged_mode
    from streamproof.harness.cassette import Cassette, new_metadata, save_cassette

    path = tmp_path / "old.yaml"
    metadata = {**new_metadata(source="live"), "recorded_at": "2020-01-01T00:00:00+00:00"}
    save_cassette(path, Cassette(path, [], metadata))
    with pytest.warns(UserWarning, match="older than max_age_days=30"):
        assert aged_mode(path, "none", 30) == "none"
    assert aged_mode(path, "once", 30) == "rewrite"
    assert aged_mode(path, "new_episodes", 30) == "rewrite"
    assert aged_mode(path, "once", 100000) == "once"
    assert aged_mode(path, "once", None) == "once"


async def test_aiohttp_is_refused_clearly_not_silently_sent(tmp_path: Path) -> None:
    import aiohttp

    from streamproof.adapters.errors import CassetteError
    from streamproof.conformance.cassette_plugin import activated, open_cassette
    from streamproof.harness.cassette import Cassette, save_cassette

    path = tmp_path / "empty.yaml"
    save_cassette(path, Cassette(path, []))
    with activated(open_cassette(path, "none", {}), block=True, hosts=[]):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(
                CassetteError, match="went through aiohttp, which streamproof cassettes do not"
            ):
                await session.get("http://127.0.0.1:9/v1/models")
    assert str(path) in str(CassetteError(path, "x"))


def test_mode_none_without_a_file_fails_only_a_test_that_sends(tmp_path: Path) -> None:
    """As with vcrpy: a marked test that sends nothing needs no cassette; one that sends fails,
    naming the cassette, and nothing is written."""
    import openai

    from streamproof.conformance.cassette_plugin import activated, open_cassette
    from streamproof.harness.replayer import NoMatchingInteraction

    path = tmp_path / "never_recorded.yaml"
    with activated(open_cassette(path, "none", {}), block=True, hosts=[]) as active:
        assert active.stale_message() is None
        client = openai.OpenAI(base_url="https://api.openai.com/v1", api_key=PLANTED["OPENAI_API_KEY"])
        with pytest.raises(NoMatchingInteraction, match="the cassette has no interactions") as caught:
            client.models.list()
    assert str(path) in str(caught.value) and not path.exists()


def test_pytest_recording_installed_beside_shares_its_options(tmp_path: Path) -> None:
    """pytest-recording defines --record-mode, --block-network and --allowed-hosts too; two plugins
    adding one option stop pytest at start-up. With it installed, the plugin reads its options."""
    site = tmp_path / "site"
    info = site / "pytest_recording-0.14.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pytest-recording\nVersion: 0.14.1\n")
    (info / "entry_points.txt").write_text("[pytest11]\nrecording = stand_in_recording\n")
    (site / "stand_in_recording.py").write_text(  # its three options, as pytest-recording declares them
        "def pytest_addoption(parser):\n"
        "    group = parser.getgroup('recording')\n"
        "    group.addoption('--record-mode', default=None, choices=['once', 'new_episodes', 'none', 'all', 'rewrite'])\n"
        "    group.addoption('--block-network', action='store_true', default=False)\n"
        "    group.addoption('--allowed-hosts', default=None)\n"
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_mode.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.cassette\n"
        "def test_mode(cassette):\n"
        "    assert cassette.mode == 'once' and cassette.session.recorder is not None\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--record-mode", "once"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_chunking_option_reaches_the_client(tmp_path: Path) -> None:
    """``chunking='bytes'`` (a marker or streamproof_config option): the same body, a byte a chunk."""
    import httpx2

    from streamproof.conformance.cassette_plugin import activated, open_cassette

    path = tmp_path / "chat.yaml"
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    headers = {"authorization": f"Bearer {PLANTED['OPENAI_API_KEY']}"}
    with Emulator() as emulator:
        url = f"{emulator.openai_base_url}/chat/completions"
        with activated(open_cassette(path, "once", {}), block=False, hosts=[]), httpx2.Client() as client:
            with client.stream("POST", url, json=body, headers=headers) as response:
                live = list(response.iter_raw())
    for chunking, expected in (("recorded", live), ("bytes", [bytes([b]) for b in b"".join(live)])):
        with activated(open_cassette(path, "none", {"chunking": chunking}), block=True, hosts=[]):
            with (
                httpx2.Client() as client,
                client.stream("POST", url, json=body, headers=headers) as response,
            ):
                assert list(response.iter_raw()) == expected


def test_extra_cassettes_replay_and_never_count_as_stale(tmp_path: Path) -> None:
    """``@pytest.mark.cassette("own.yaml", "shared.yaml")``: the shared one is replayed too, never
    written, and what the test leaves of it unplayed is no stale tail; its own cassette's is."""
    import httpx2

    from streamproof.conformance.cassette_plugin import activated, open_cassette
    from streamproof.harness.cassette import (
        Cassette,
        Headers,
        Interaction,
        RecordedRequest,
        RecordedResponse,
        save_cassette,
    )

    def interaction(path: str, text: str) -> Interaction:
        request = RecordedRequest("GET", f"https://api.example.test{path}", Headers({}), None)
        response = RecordedResponse(200, "OK", Headers({"content-type": ["text/plain"]}), text.encode())
        return Interaction(0, request, response)

    own, shared = tmp_path / "own.yaml", tmp_path / "shared.yaml"
    save_cassette(own, Cassette(own, [interaction("/a", "A"), interaction("/z", "Z")]))
    save_cassette(shared, Cassette(shared, [interaction("/b", "B"), interaction("/c", "C")]))
    before = shared.read_bytes()
    with activated(open_cassette(own, "none", {}, [shared]), block=True, hosts=[]) as active:
        with httpx2.Client() as client:
            assert client.get("https://api.example.test/a").text == "A"
            assert client.get("https://api.example.test/b").text == "B"  # from the shared cassette
    assert [item.request.path for item in active.played] == ["/a", "/b"]
    assert [item.request.path for item in active.unplayed] == ["/z", "/c"]
    message = active.stale_message()
    assert message is not None and "#1 GET https://api.example.test/z" in message and "/c" not in message
    assert shared.read_bytes() == before
