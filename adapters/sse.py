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

from typing import NamedTuple

from .errors import MalformedStreamError


class SSEEvent(NamedTuple):
    event: str | None  # the ``event:`` field, None when absent
    data: str
    id: str | None = None


_new_event = tuple.__new__  # builds an SSEEvent without NamedTuple's Python-level __new__ (hot path)


class SSEDecoder:
    __slots__ = ("_buf", "_data", "_event", "_id", "_skip_lf", "bytes_seen", "tail_unterminated")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self.bytes_seen = 0
        self.tail_unterminated = False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        self.bytes_seen += len(chunk)
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        buf = self._buf + chunk if self._buf else chunk
        if buf[-1:] == b"\n":  # the usual chunk (an event, a whole body) ends a line: no search
            self._buf = b""
            end = len(buf) - 1
        else:
            end = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
            if end < 0:
                self._buf = buf
                return []
            self._buf = buf[end + 1 :]
            if buf[end] == 13:  # CR: its LF may be the next chunk's first byte
                self._skip_lf = True
                return self._lines(buf[:end])
        if end and buf[end - 1] == 13:  # the last line ends in CRLF: one line end, not two
            return self._lines(buf[: end - 1])
        return self._lines(buf[:end])

    def close(self) -> list[SSEEvent]:
        """End of input: flush a last line and an event left open by a missing blank line."""
        events: list[SSEEvent] = []
        if self._buf:
            events = self._lines(self._buf)
            self._buf = b""
            self.tail_unterminated = True
        if self._data:
            self.tail_unterminated = True
            events.append(SSEEvent(self._event, "\n".join(self._data), self._id))
            self._data = []
            self._event = None
        return events

    def _lines(self, raw: bytes) -> list[SSEEvent]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedStreamError(
                f"SSE stream is not valid UTF-8 at byte {exc.start} of a line"
            ) from None
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[SSEEvent] = []
        data = self._data
        event = self._event
        for line in text.split("\n"):
            # The shapes every provider sends come first; the general field rules follow.
            if not line:
                if data:
                    joined = data[0] if len(data) == 1 else "\n".join(data)
                    events.append(_new_event(SSEEvent, (event, joined, self._id)))
                    data = []
                event = None
            elif line[:6] == "data: ":
                data.append(line[6:])
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
                    data.append(value)
                elif name == "id" and "\0" not in value:
                    self._id = value
                # "retry" and unknown fields are ignored, as the spec says
        self._data = data
        self._event = event
        return events
