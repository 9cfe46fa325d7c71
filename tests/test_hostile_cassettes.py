"""Hostile or odd cassettes: YAML aliases, memory bombs, files that are not files, bad chunk times.

Each must load, or fail with a ``CassetteError`` that names the file and the problem, fast and in
bounded memory. The hostile files are built here, small: a gzip bomb is ~6 MB of deflated zeros,
repeated; an alias bomb a few KB. Loads that could hang or exhaust memory on a broken loader run in
a child process with a time limit and a capped address space (``load_in_child``), which also
reports the child's peak RSS; the others run here.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamproof.adapters.errors import CassetteError
from streamproof.conformance.battery import discover_cases
from streamproof.harness.cassette import (
    MAX_BODY_BYTES,
    MAX_CHUNK_SECONDS,
    YAML_LOADER,
    LoadLimits,
    import_cassette,
    load_cassette,
)
from streamproof.harness.fast_yaml import AliasLimitError, DocumentLimitError, alias_expansion, load_yaml

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="FIFOs, /dev/zero and RLIMIT_AS")

MiB = 1 << 20
_EVENT = '{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"%s"}}]}'
_LAST = '{"id":"chatcmpl-1","model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}'
SSE = f"data: {_EVENT % 'Hi'}\n\ndata: {_LAST}\n\ndata: [DONE]\n\n"
REQUEST = """\
  request:
    body: '{"model":"gpt-4o","stream":true}'
    headers: {}
    method: POST
    uri: https://api.openai.com/v1/chat/completions
"""


def block(text: str, indent: int) -> str:
    """``text`` as the lines of a literal block at ``indent`` spaces."""
    return textwrap.indent(text, " " * indent, lambda line: True)


def big_sse(size: int = 4096) -> str:
    """A Chat SSE body of at least ``size`` bytes: over fast_yaml's 2 KB lift threshold, it is
    the lifted path that reads it."""
    event = f"data: {_EVENT % ('x' * 80)}\n\n"
    return event * (size // len(event) + 1) + SSE


def response(body_yaml: str, headers: str = "content-type: [text/event-stream]", extra: str = "") -> str:
    return (
        "  response:\n    status: {code: 200, message: OK}\n"
        f"    headers: {{{headers}}}\n    body:\n{body_yaml}{extra}"
    )


def literal_body(text: str) -> str:
    return "      string: |+\n" + block(text, 8)  # keep: the body's final empty line too


def chunked(path: Path, chunks: str) -> Path:
    """A cassette of one short SSE response with ``chunks`` as its ``streamproof_chunks``."""
    extra = f"    streamproof_chunks: {chunks}\n"
    return write(
        path,
        "interactions:\n- " + REQUEST.lstrip() + response(literal_body(SSE), extra=extra) + "version: 1\n",
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from streamproof.harness.cassette import load_cassette, import_cassette
    from streamproof.harness.recorder import CassetteRecorder
    from streamproof.adapters.errors import CassetteError
    what, src = sys.argv[1], sys.argv[2]
    pages = int(open("/proc/self/statm").read().split()[0])
    room = pages * resource.getpagesize() + int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (room, room))
    def peak():  # VmHWM: a child's ru_maxrss starts at its parent's, which would hide ours
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    base = peak()
    out = {}
    try:
        if what == "load":
            cassette = load_cassette(src)
            bodies = [i.response.body for i in cassette.interactions]
            out = {"interactions": len(bodies), "shared": all(b is bodies[0] for b in bodies),
                   "body_bytes": len(bodies[0]) if bodies else 0}
        elif what == "import":
            import_cassette(src, src + ".imported.yaml")
            out = {"imported": True}
        else:
            CassetteRecorder.appending(src)
            out = {"appending": True}
    except CassetteError as exc:
        out = {"error": str(exc)}
    out["rss_mib"] = (peak() - base) / 1024
    print(json.dumps(out))
    """
)


def load_in_child(
    path: Path,
    what: str = "load",
    room: int = 768 * MiB,
    timeout: float = 30,
) -> dict[str, Any]:
    """Run ``load_cassette`` (or ``import_cassette``, or ``CassetteRecorder.appending``) on ``path``
    in a child process that may map ``room`` bytes beyond what its imports took; its JSON report."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, what, str(path), str(room)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report: dict[str, Any] = json.loads(result.stdout)
    return report


# -- 7. anchors and aliases --------------------------------------------------------------------


@pytest.mark.parametrize("size", [100, 4096], ids=["short-body", "lifted-body"])
def test_an_interaction_reused_through_an_alias_loads(tmp_path: Path, size: int) -> None:
    """PyYAML's own dumper writes an anchor for an object that appears twice: such a cassette is valid."""
    text = big_sse(size) if size > 2048 else SSE
    path = write(
        tmp_path / "alias.yaml",
        "interactions:\n- &first\n" + REQUEST + response(literal_body(text)) + "- *first\nversion: 1\n",
    )
    cassette = load_cassette(path)
    assert [i.response.body for i in cassette.interactions] == [text.encode()] * 2
    assert [i.index for i in cassette.interactions] == [0, 1]
    expected = yaml.load(path.read_bytes(), Loader=YAML_LOADER)
    assert cassette.interactions[1].request.uri == expected["interactions"][1]["request"]["uri"]


def test_a_body_reused_through_an_alias_loads_with_its_own_headers(tmp_path: Path) -> None:
    body = big_sse()
    path = write(
        tmp_path / "alias.yaml",
        "interactions:\n- request: &req\n"
        + REQUEST.split("\n", 1)[1]
        + "  response:\n    status: &ok {code: 200, message: OK}\n    headers: {x-n: ['1']}\n    body: &b\n"
        + literal_body(body)
        + "- request: *req\n  response:\n    status: *ok\n    headers: {x-n: ['2']}\n    body: *b\n"
        + "version: 1\n",
    )
    cassette = load_cassette(path)
    assert [i.response.headers["x-n"] for i in cassette.interactions] == ["1", "2"]
    assert cassette.interactions[0].response.body == cassette.interactions[1].response.body == body.encode()


@pytest.mark.parametrize(
    "document",
    [
        "a: &x {k: [1, *x]}\nb: *x\n",  # a mapping inside itself
        "- &x [1, [2, *x]]\n",  # a sequence inside itself
        "a: &x {string: '%s', more: *x}\n",  # the lifted value beside the loop
    ],
    ids=["mapping", "sequence", "with-lifted"],
)
def test_a_recursive_document_is_refused(document: str) -> None:
    text = (document % ("y" * 3000) if "%s" in document else document).encode()
    with pytest.raises(DocumentLimitError, match="recursive alias"):
        load_yaml(text, YAML_LOADER, frozenset({b"string"}))


@pytest.mark.parametrize(
    "where",
    ["metadata", "interaction"],
)
def test_a_recursive_anchor_beside_a_long_body_is_a_cassette_error_in_bounded_time(
    tmp_path: Path, where: str
) -> None:
    """The old placeholder walk followed the loop forever once a body was long enough to be lifted."""
    meta = "streamproof: &m\n  source: live\n  again: *m\n" if where == "metadata" else ""
    loop = "  again: *i\n" if where == "interaction" else ""
    path = write(
        tmp_path / "loop.yaml",
        meta + "interactions:\n- &i\n" + REQUEST + loop + response(literal_body(big_sse())) + "version: 1\n",
    )
    report = load_in_child(path, timeout=20)
    assert str(path) in report["error"] and "recursive alias" in report["error"], report


def test_importing_cyclic_metadata_is_a_cassette_error(tmp_path: Path) -> None:
    src = write(
        tmp_path / "cyclic.yaml",
        "streamproof: &m {source: live, parent: {child: *m}}\ninteractions:\n- "
        + REQUEST.lstrip()
        + response(literal_body(SSE))
        + "version: 1\n",
    )
    with pytest.raises(CassetteError, match="recursive alias") as caught:
        import_cassette(src, tmp_path / "out.yaml")
    assert str(src) in str(caught.value)
    assert not (tmp_path / "out.yaml").exists()


def test_aliased_documents_read_exactly_as_libyaml_reads_them() -> None:
    """The lift keeps its promise (same data as yaml.load) on documents full of anchors."""
    keys = frozenset({b"string"})
    value = "line\n" * 600
    docs = [
        {"a": (shared := {"string": value}), "b": shared, "c": [shared, shared]},
        {"list": (items := [1, 2, {"string": value}]), "again": items},
    ]
    for doc in docs:
        text = yaml.dump(doc, Dumper=yaml.SafeDumper, default_style=None, width=2**31 - 1)
        assert "&id001" in text
        data = load_yaml(text.encode(), YAML_LOADER, keys)
        assert json.dumps(data, default=bytes.decode) == json.dumps(yaml.safe_load(text))


# -- 8. memory bombs ---------------------------------------------------------------------------


def crc32_of_zeros(count: int, block_size: int) -> int:
    """``zlib.crc32(bytes(count))`` without making the bytes: over zeros, the CRC is an affine map
    of the running value, so the map for 2n zeros is the map for n applied twice."""
    zeros = bytes(block_size)
    at0 = zlib.crc32(zeros, 0)
    one = (at0, [zlib.crc32(zeros, 1 << bit) ^ at0 for bit in range(32)])  # value at 0, linear part

    def apply(affine: tuple[int, list[int]], value: int) -> int:
        out = affine[0]
        for bit in range(32):
            if value >> bit & 1:
                out ^= affine[1][bit]
        return out

    def compose(outer: tuple[int, list[int]], inner: tuple[int, list[int]]) -> tuple[int, list[int]]:
        base = apply(outer, inner[0])
        return base, [apply(outer, column) ^ outer[0] for column in inner[1]]

    result = (0, [1 << bit for bit in range(32)])
    times = count // block_size
    while times:
        if times & 1:
            result = compose(one, result)
        one, times = compose(one, one), times >> 1
    return result[0]


def gzip_of_zeros(size: int) -> bytes:
    """A valid gzip member of ``size`` zero bytes (a multiple of 1 MiB), built from one deflated MiB
    repeated: after a full flush the deflater starts afresh, so each MiB deflates the same."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    one_mib = deflater.compress(bytes(MiB)) + deflater.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc32_of_zeros(size, MiB).to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    return header + one_mib * (size // MiB) + deflater.flush(zlib.Z_FINISH) + trailer


def test_the_gzip_bomb_builder_makes_valid_gzip() -> None:
    import gzip

    assert gzip.decompress(gzip_of_zeros(16 * MiB)) == bytes(16 * MiB)


def gzip_cassette(path: Path, compressed: bytes) -> Path:
    encoded = base64.encodebytes(compressed).decode()
    return write(
        path,
        "interactions:\n- "
        + REQUEST.lstrip()
        + response(
            "      string: !!binary |\n" + block(encoded, 8),
            headers="content-type: [text/event-stream], content-encoding: [gzip]",
        )
        + "version: 1\n",
    )


def test_a_gzip_bomb_stops_at_the_body_limit(tmp_path: Path) -> None:
    """~6 MB of gzip that inflates to 6 GiB: refused once the output passes MAX_BODY_BYTES."""
    path = gzip_cassette(tmp_path / "bomb.yaml", gzip_of_zeros(6 << 30))
    assert path.stat().st_size < 12 * MiB
    report = load_in_child(path, room=MAX_BODY_BYTES + 512 * MiB)
    assert str(path) in report["error"] and f"more than {MAX_BODY_BYTES} bytes" in report["error"], report
    assert "STREAMPROOF_MAX_BODY_BYTES" in report["error"]
    assert report["rss_mib"] < MAX_BODY_BYTES / MiB + 100


def test_the_body_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = gzip_cassette(tmp_path / "gz.yaml", gzip_of_zeros(2 * MiB))
    assert len(load_cassette(path).interactions[0].response.body) == 2 * MiB  # the default lets it in
    with pytest.raises(CassetteError, match=f"more than {MiB} bytes"):
        load_cassette(path, limits=LoadLimits(body_bytes=MiB))
    monkeypatch.setenv("STREAMPROOF_MAX_BODY_BYTES", str(MiB))
    with pytest.raises(CassetteError, match=f"more than {MiB} bytes"):
        load_cassette(path)
    monkeypatch.setenv("STREAMPROOF_MAX_BODY_BYTES", "lots")
    with pytest.raises(CassetteError, match=r"STREAMPROOF_MAX_BODY_BYTES.*positive integer"):
        load_cassette(path)


def aliased_body_cassette(path: Path, body_size: int, copies: int, style: str) -> Path:
    """One body, written once, then named by ``copies`` more interactions through an alias."""
    text = big_sse(body_size)[: body_size - 1] + "\n"
    if style == "lifted":
        body = "    body: &b\n" + literal_body(text)
    else:  # double-quoted: read by libyaml as a str, not lifted
        body = "    body: &b\n      string: " + json.dumps(text) + "\n"
    first = "- request: &req\n" + REQUEST.split("\n", 1)[1]
    first += "  response: &resp\n    status: {code: 200, message: OK}\n"
    first += "    headers: {content-type: [text/event-stream]}\n" + body
    again = "- {request: *req, response: *resp}\n" * copies
    return write(path, "interactions:\n" + first + again + "version: 1\n")


@pytest.mark.parametrize("style", ["lifted", "quoted"])
def test_aliased_bodies_are_shared_not_copied(tmp_path: Path, style: str) -> None:
    path = aliased_body_cassette(tmp_path / "shared.yaml", MiB, 200, style)
    assert path.stat().st_size < 3 * MiB
    report = load_in_child(path, room=512 * MiB)
    assert report.get("interactions") == 201 and report["body_bytes"] == MiB, report
    assert report["shared"] is True
    assert report["rss_mib"] < 30


def test_a_file_aliasing_one_body_thousands_of_times_is_refused_at_the_total_limit(tmp_path: Path) -> None:
    """1 MB that 2,000 interactions name: 2 GB for whatever walks the interactions (the aliases
    add ~50,000 nodes, under the alias limit: it is the total size that refuses it)."""
    path = aliased_body_cassette(tmp_path / "many.yaml", MiB, 2000, "quoted")
    assert path.stat().st_size < 3 * MiB
    report = load_in_child(path, room=512 * MiB)
    assert str(path) in report["error"] and "STREAMPROOF_MAX_CASSETTE_BYTES" in report["error"], report
    assert report["rss_mib"] < 50


def test_the_total_limit_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = aliased_body_cassette(tmp_path / "few.yaml", 10_000, 5, "lifted")
    assert len(load_cassette(path).interactions) == 6
    with pytest.raises(
        CassetteError, match="interaction 4 response: the bodies so far total more than 50000"
    ):
        load_cassette(path, limits=LoadLimits(cassette_bytes=50_000))
    monkeypatch.setenv("STREAMPROOF_MAX_CASSETTE_BYTES", "1000")  # the file itself is larger
    with pytest.raises(CassetteError, match=r"file of \d+ bytes, more than the limit of 1000"):
        load_cassette(path)


def test_a_symlink_to_dev_zero_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "zero.yaml"
    path.symlink_to("/dev/zero")
    report = load_in_child(path, room=256 * MiB, timeout=20)
    assert report["error"] == f"{path}: cannot read: a character device, not a regular file"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    try:
        report = load_in_child(path, timeout=20)
    finally:
        try:  # release a reader blocked in open(), should there be one
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    assert report["error"] == f"{path}: cannot read: a named pipe (FIFO), not a regular file"


def test_a_directory_is_named_as_one(tmp_path: Path) -> None:
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(CassetteError, match=r"dir\.yaml: cannot read: a directory, not a regular file"):
        load_cassette(tmp_path / "dir.yaml")


# -- 9. billion laughs -------------------------------------------------------------------------


def laughs(levels: int = 9) -> str:
    """The classic alias bomb, as metadata: level n names level n-1 ten times (10^9 leaves)."""
    lines = ['  l0: &l0 "lol"']
    for n in range(1, levels + 1):
        lines.append(f"  l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]")
    return "streamproof:\n  source: live\n" + "\n".join(lines) + "\n"


def laughs_cassette(path: Path, levels: int = 9) -> Path:
    return write(
        path,
        laughs(levels)
        + "interactions:\n- "
        + REQUEST.lstrip()
        + response(literal_body(SSE))
        + "version: 1\n",
    )


@pytest.mark.parametrize("what", ["load", "import", "appending"])
def test_billion_laughs_in_the_metadata_is_refused_quickly(tmp_path: Path, what: str) -> None:
    """Loading, importing and re-recording over it (the recorder appends to what the file holds)."""
    path = laughs_cassette(tmp_path / "laughs.yaml")
    report = load_in_child(path, what, room=512 * MiB, timeout=20)
    assert str(path) in report.get("error", ""), report
    assert "aliases add more than 100000 YAML nodes once expanded" in report["error"]
    assert report["rss_mib"] < 50
    assert not Path(f"{path}.imported.yaml").exists()


def test_the_alias_limit_counts_the_nodes_aliases_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = laughs_cassette(tmp_path / "small.yaml", levels=3)  # l1..l3: ten aliases of the level below
    added = 10 * 1 + 10 * (1 + 10) + 10 * (1 + 10 * (1 + 10))
    cassette = load_cassette(path)
    assert cassette.metadata["l3"][9][9] == ["lol"] * 10
    with pytest.raises(CassetteError, match=f"aliases add more than {added - 1} YAML nodes"):
        load_cassette(path, limits=LoadLimits(alias_nodes=added - 1))
    assert len(load_cassette(path, limits=LoadLimits(alias_nodes=added)).metadata["l3"]) == 10
    monkeypatch.setenv("STREAMPROOF_MAX_ALIAS_NODES", str(added - 1))
    with pytest.raises(CassetteError, match="STREAMPROOF_MAX_ALIAS_NODES"):
        load_cassette(path)
    monkeypatch.setenv("STREAMPROOF_MAX_ALIAS_NODES", str(added))
    assert load_cassette(path).metadata["l3"][0][0] == ["lol"] * 10


@pytest.mark.parametrize(
    ("document", "added"),
    [
        ("a: &a [x, x]\nb: [*a, *a, *a]\n", 3 * 3),  # three copies of a 3-node sequence
        ("a: &a {k: v}\nb: [*a, *a]\n", 2 * 3),  # two of a mapping: itself, a key and a value
        ("a: &s x\nb: [*s, *s, [*s]]\n", 3),  # an aliased scalar, also one level down
        ("a: &a [&s x, *s]\nb: *a\n", 1 + 3),  # the scalar alias inside, then the whole sequence
    ],
)
def test_alias_expansion_counts_what_each_alias_copies(document: str, added: int) -> None:
    node = yaml.compose(document, Loader=YAML_LOADER)
    assert alias_expansion(node, added) == added
    with pytest.raises(AliasLimitError, match=f"more than {added - 1} YAML nodes"):
        alias_expansion(node, added - 1)


def test_equal_values_are_not_aliases() -> None:
    assert alias_expansion(yaml.compose("a: [1, {k: v}]\nb: [1, {k: v}]\n", Loader=YAML_LOADER), 0) == 0


# -- 10. chunk times ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chunks", "bad"),
    [
        ("[[5, .inf]]", "inf"),
        ("[[5, -.inf]]", "-inf"),
        ("[[1, 0.1], [2, .nan], [5, 0.2]]", "nan"),  # NaN in the middle: sorted() cannot see it
        ("[[5, .nan]]", "nan"),
        ('\'{"ends":[5],"seconds":[1e300]}\'', "1e+300"),
        ('\'{"ends":[2,5],"seconds":[-0.5,0.1]}\'', "-0.5"),
        ('\'{"ends":[2,5],"seconds":[0.1,86400.5]}\'', "86400.5"),
        ("[[5, 100000000000000000000000]]", "100000000000000000000000"),
        ("[[5, 1" + "0" * 400 + "]]", "1" + "0" * 400),  # an int no float can hold
    ],
)
def test_chunk_times_must_be_finite_and_bounded(tmp_path: Path, chunks: str, bad: str) -> None:
    path = chunked(tmp_path / "times.yaml", chunks)
    with pytest.raises(CassetteError) as caught:
        load_cassette(path)
    message = str(caught.value)
    assert str(path) in message and f"time {bad} is not a number of seconds from 0 to 86400" in message


def test_chunk_times_up_to_a_day_load(tmp_path: Path) -> None:
    assert MAX_CHUNK_SECONDS == 86400
    path = chunked(tmp_path / "day.yaml", '\'{"ends":[0,2,10],"seconds":[0,0.5,86400]}\'')
    assert load_cassette(path).interactions[0].response.chunks == [(0, 0.0), (2, 0.5), (10, 86400.0)]


def test_a_negative_chunk_offset_is_refused(tmp_path: Path) -> None:
    path = chunked(tmp_path / "offsets.yaml", "'[[-3, 0.1], [10, 0.2]]'")
    with pytest.raises(CassetteError, match="offset -3 is negative"):
        load_cassette(path)


# -- one bad file never stops the others -------------------------------------------------------


def hostile_folder(root: Path) -> tuple[list[Path], list[Path]]:
    """Good cassettes (one reusing an interaction through an alias) among hostile ones."""
    root.mkdir()
    good = [
        write(
            root / "a_plain.yaml",
            "interactions:\n- " + REQUEST.lstrip() + response(literal_body(SSE)) + "version: 1\n",
        ),
        write(
            root / "c_alias.yaml",
            "interactions:\n- &first\n"
            + REQUEST
            + response(literal_body(big_sse()))
            + "- *first\nversion: 1\n",
        ),
    ]
    (root / "b_zero.yaml").symlink_to("/dev/zero")
    os.mkfifo(root / "b_pipe.yaml")
    bad = [
        root / "b_zero.yaml",
        root / "b_pipe.yaml",
        chunked(root / "b_inf.yaml", "[[5, .inf]]"),
        write(
            root / "b_loop.yaml",
            "interactions:\n- &i\n"
            + REQUEST
            + "  again: *i\n"
            + response(literal_body(big_sse()))
            + "version: 1\n",
        ),
        gzip_cassette(root / "b_gzip.yaml", gzip_of_zeros(64 * MiB)),
        laughs_cassette(root / "b_laughs.yaml"),
    ]
    return good, bad


def test_replay_reports_each_hostile_file_and_replays_the_good_ones(tmp_path: Path) -> None:
    good, bad = hostile_folder(tmp_path / "mixed")
    files = sorted(good + bad)
    result = subprocess.run(
        [sys.executable, "-m", "streamproof.cli", "replay", "--format", "json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STREAMPROOF_MAX_BODY_BYTES": str(4 * MiB)},
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)),
    )
    assert result.returncode == 1, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["cassette"], line["index"]) for line in lines] == [
        (str(good[0]), 0),
        (str(good[1]), 0),
        (str(good[1]), 1),
    ]
    assert all(line["status"] == 200 and line["error"] is None for line in lines)
    problems = {
        "b_gzip.yaml": "body decompresses to more than 4194304 bytes",
        "b_inf.yaml": "time inf is not a number of seconds",
        "b_laughs.yaml": "aliases add more than 100000 YAML nodes once expanded",
        "b_loop.yaml": "recursive alias",
        "b_pipe.yaml": "a named pipe (FIFO), not a regular file",
        "b_zero.yaml": "a character device, not a regular file",
    }
    errors = result.stderr.splitlines()
    assert len(errors) == len(bad), result.stderr[-3000:]
    for line, path in zip(errors, sorted(bad), strict=True):
        assert line.startswith(f"streamproof replay: {path}: ") and problems[path.name] in line, line


def test_check_discovery_loads_an_aliased_cassette_and_names_a_hostile_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check`` finds its cases through ``discover_cases``: the alias cassette's two interactions are
    two cases; each hostile file alone is a ``CassetteError`` naming it (how a whole run reports
    one is ``check``'s business)."""
    good, bad = hostile_folder(tmp_path / "mixed")
    clean = tmp_path / "clean"
    clean.mkdir()
    for path in good:
        (clean / path.name).write_bytes(path.read_bytes())
    cases = discover_cases(clean)
    assert [(case.cassette.name, case.interaction.index) for case in cases] == [
        ("a_plain.yaml", 0),
        ("c_alias.yaml", 0),
        ("c_alias.yaml", 1),
    ]
    monkeypatch.setenv("STREAMPROOF_MAX_BODY_BYTES", str(4 * MiB))
    for path in bad:
        if path.name in ("b_pipe.yaml", "b_zero.yaml"):
            continue  # hang or exhaust memory on a loader without the checks: tested in a child above
        with pytest.raises(CassetteError) as caught:
            discover_cases(path)
        assert str(caught.value).startswith(f"{path}: ")
