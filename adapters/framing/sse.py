"""An exact, incremental Server-Sent Events decoder over raw bytes.

Follows the WHATWG event-stream rules: lines end in CRLF, LF or CR (a CRLF split across two chunks
is one line end); ``:`` starts a comment; ``data:`` lines of one event are joined with ``\\n``; the
space after the colon is optional; a blank line dispatches. Bytes are decoded only once a whole
line is in hand, so a UTF-8 character split across chunks is never cut.

Beyond the spec, ``close()`` dispatches an event whose final blank line never came (Gemini ends its
body without one) and reports it in ``tail_unterminated`` so a wire format can decide whether that
tail is a complete event or a cut.
"""

from __future__ import annotations

from typing import TypeAlias

from ..errors import MalformedStreamError

SSEEvent: TypeAlias = "tuple[str | None, str, str | None]"
"""One dispatched event: ``(event, data, id)``; ``event`` and ``id`` are None when absent.

A plain tuple, not a NamedTuple: building a tuple subclass per event cost ~5 % of the whole
reference stream path (benchmarks/stream_path.py).
"""


class SSEDecoder:
    __slots__ = ("_data", "_event", "_id", "_more", "_partial", "_skip_lf", "tail_unterminated")

    def __init__(self) -> None:
        # The start of a line whose end has not come yet, as the pieces it came in: joined once,
        # when the line ends, so a line over many chunks costs O(its length), not O(length²).
        self._partial: list[bytes] = []
        self._data: str | None = None  # the first data line of the open event
        self._more: list[str] = []  # its further data lines (rare): a list only when they come
        self._event: str | None = None
        self._id: str | None = None
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self.tail_unterminated = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """The events that ``chunk`` completes."""
        if self._partial or self._skip_lf or chunk[-1:] != b"\n":
            chunk = self._whole_lines(chunk)
            if not chunk:
                return []
        # From here ``chunk`` is whole lines, the last one ending the chunk: the usual network
        # chunk (one event, or a whole body) comes straight here.
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedStreamError(
                f"SSE stream is not valid UTF-8 at byte {exc.start} of a line"
            ) from None
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[SSEEvent] = []
        lines = text.split("\n")
        lines.pop()  # what follows the last line end: always empty here
        data = self._data
        event = self._event
        for line in lines:
            # The shapes every provider sends come first; the general field rules follow.
            if not line:
                if data is not None:
                    if self._more:
                        data = self._joined(data)
                    events.append((event, data, self._id))
                    data = None
                event = None
            elif line[:6] == "data: ":
                if data is None:
                    data = line[6:]
                else:
                    self._more.append(line[6:])
            elif line[:7] == "event: ":
                event = line[7:]
            elif line[0] == ":":
                continue
            else:
                name, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if name == "event":
                    event = value
                elif name == "data":  # also "data" with no colon: an empty data line
                    if data is None:
                        data = value
                    else:
                        self._more.append(value)
                elif name == "id" and "\0" not in value:
                    self._id = value
                # "retry" and unknown fields are ignored, as the spec says
        self._data = data
        self._event = event
        return events

    def close(self) -> list[SSEEvent]:
        """End of input: flush a last line and an event left open by a missing blank line."""
        events: list[SSEEvent] = []
        if self._partial:
            events = self.feed(b"\n")
            self.tail_unterminated = True
        if self._data is not None:
            self.tail_unterminated = True
            events.append((self._event, self._joined(self._data), self._id))
            self._data = None
            self._event = None
        return events

    def _whole_lines(self, chunk: bytes) -> bytes:
        """The complete lines of what is held and ``chunk``; the rest is held for later.

        Only ``chunk`` is searched for a line end: what is held has none (else it would not be held).
        """
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if end < 0:
            if chunk:
                self._partial.append(chunk)
            return b""
        if end == len(chunk) - 1 and chunk[end] == 13:  # CR ends the chunk: its LF may open the next
            self._skip_lf = True
        lines = chunk[: end + 1]
        if self._partial:
            self._partial.append(lines)
            lines = b"".join(self._partial)
            self._partial = []
        if end + 1 < len(chunk):
            self._partial.append(chunk[end + 1 :])
        return lines

    def _joined(self, first: str) -> str:
        if not self._more:
            return first
        joined = "\n".join([first, *self._more])
        self._more = []
        return joined
