"""Stream the value of top-level string fields out of a JSON object that arrives in fragments.

Tool-call arguments stream as raw JSON fragments (``{"mess``, ``age": "Hel``, ``lo\\u00e9"}``). To show
``send_message``'s ``message`` (or an ``inner_thoughts`` argument) while it is being written, we need
its decoded characters as soon as they arrive. Re-parsing the growing prefix on every fragment is
quadratic (the original's bug); this reader is a state machine that looks at each byte of input
once, so all fragments together cost O(total length). Runs of plain characters are found with a
compiled regex, so the per-character work happens in C.

    reader = TopLevelStringFields("message")
    reader.feed('{"message": "Hel')   # -> [("message", "Hel")]
    reader.feed('lo\\n", "x": 1}')     # -> [("message", "lo\\n")]

Every JSON escape is decoded (``\\uXXXX`` surrogate pairs included), also when an escape is split
across fragments. Values of other keys, of any type, are skipped. The reader checks the top-level
structure and the escapes it decodes; it does not validate the inside of skipped values (the
complete arguments are parsed once, at the end, by whoever needs them). A wanted key that repeats
is streamed only the first time: characters already sent cannot be taken back. A wanted key whose
value is not a string yields nothing.
"""

from __future__ import annotations

import json
import re

from .errors import MalformedStreamError

_WHITESPACE = " \t\n\r"
_STRING_STOP = re.compile(r'["\\]')  # what ends a run of plain characters inside a string
_NESTED_STOP = re.compile(r'["\\{}\[\]]')  # what changes the state while skipping a nested value
_SCALAR_END = re.compile(r"[,}\s]")
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_SCALAR_START = frozenset("-0123456789tfn")
_HEX = frozenset("0123456789abcdefABCDEF")
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

# states of the top-level object
_BEFORE_OBJECT = 0  # expecting "{"
_FIRST_KEY = 1  # after "{": a key or "}"
_KEY = 2  # after ",": a key
_IN_KEY = 3  # inside a key string
_COLON = 4
_VALUE = 5
_IN_WANTED = 6  # inside the string value of a wanted key: decode and emit
_IN_SKIPPED_STRING = 7
_IN_NESTED = 8  # inside an object or array value (depth > 0)
_IN_SCALAR = 9  # inside a number or true / false / null
_AFTER_VALUE = 10  # expecting "," or "}"
_DONE = 11  # after the closing "}": only whitespace


class TopLevelStringFields:
    """Incremental reader that emits the decoded characters of chosen top-level string fields."""

    __slots__ = (
        "_done_fields",
        "_escape",
        "_hex",
        "_high_surrogate",
        "_in_nested_string",
        "_key_parts",
        "_nested_depth",
        "_offset",
        "_scalar",
        "_state",
        "_value_field",
        "fields",
    )

    def __init__(self, *fields: str) -> None:
        if not fields:
            raise ValueError("TopLevelStringFields needs at least one field name")
        self.fields = frozenset(fields)
        self._state = _BEFORE_OBJECT
        self._offset = 0  # characters consumed before the current fragment, for error messages
        self._key_parts: list[str] = []
        self._value_field: str | None = None
        self._done_fields: set[str] = set()
        self._escape = False  # a backslash was the last character seen inside a string
        self._hex: str | None = None  # digits of a \\u escape collected so far
        self._high_surrogate: str | None = None  # a decoded high surrogate waiting for its low half
        self._nested_depth = 0
        self._in_nested_string = False
        self._scalar: list[str] = []

    @property
    def complete(self) -> bool:
        """The top-level object has closed."""
        return self._state == _DONE

    def feed(self, fragment: str) -> list[tuple[str, str]]:
        """Consume one fragment; return ``(field, decoded text)`` pieces in order of arrival."""
        out: list[tuple[str, str]] = []
        i, n = 0, len(fragment)
        while i < n:
            state = self._state
            if state == _IN_WANTED:
                i = self._read_wanted(fragment, i, out)
            elif state == _IN_SKIPPED_STRING:
                i = self._skip_string(fragment, i)
            elif state == _IN_NESTED:
                i = self._skip_nested(fragment, i)
            elif state == _IN_KEY:
                i = self._read_key(fragment, i)
            elif state == _IN_SCALAR:
                i = self._read_scalar(fragment, i)
            else:
                char = fragment[i]
                i += 1
                if char in _WHITESPACE:
                    continue
                self._structural(char, i - 1)
        self._offset += n
        return out

    # -- structure -------------------------------------------------------------------------------

    def _structural(self, char: str, at: int) -> None:
        state = self._state
        if state == _VALUE:
            if char == '"':
                field = self._value_field
                if field is not None:
                    self._state = _IN_WANTED
                else:
                    self._state = _IN_SKIPPED_STRING
            elif char in "{[":
                self._state = _IN_NESTED
                self._nested_depth = 1
            elif char in _SCALAR_START:
                self._state = _IN_SCALAR
                self._scalar = [char]
            else:
                raise MalformedStreamError(
                    f"tool-call arguments: expected a value at offset {self._offset + at}, found {char!r}"
                )
            return
        if state == _AFTER_VALUE:
            if char == ",":
                self._state = _KEY
                return
            if char == "}":
                self._state = _DONE
                return
        elif state in (_FIRST_KEY, _KEY):
            if char == '"':
                self._state = _IN_KEY
                self._key_parts = []
                return
            if char == "}" and state == _FIRST_KEY:
                self._state = _DONE
                return
        elif state == _COLON:
            if char == ":":
                self._state = _VALUE
                return
        elif state == _BEFORE_OBJECT:
            if char == "{":
                self._state = _FIRST_KEY
                return
        expected = {
            _BEFORE_OBJECT: "'{'",
            _FIRST_KEY: "a key or '}'",
            _KEY: "a key",
            _COLON: "':'",
            _AFTER_VALUE: "',' or '}'",
            _DONE: "nothing after the closing '}'",
        }[state]
        raise MalformedStreamError(
            f"tool-call arguments are not a JSON object: expected {expected} at offset {self._offset + at}, "
            f"found {char!r}"
        )

    def _read_key(self, fragment: str, i: int) -> int:
        # Keys are short; collect their raw text (escapes included) and decode it once it closes.
        while i < len(fragment):
            if self._escape:
                self._escape = False
                self._key_parts.append(fragment[i])
                i += 1
                continue
            match = _STRING_STOP.search(fragment, i)
            if match is None:
                self._key_parts.append(fragment[i:])
                return len(fragment)
            stop = match.start()
            self._key_parts.append(fragment[i:stop])
            if fragment[stop] == "\\":
                self._escape = True
                self._key_parts.append("\\")
                i = stop + 1
                continue
            self._end_key(stop)
            return stop + 1
        return i

    def _end_key(self, at: int) -> None:
        raw = "".join(self._key_parts)
        key = _decode_key(raw) if "\\" in raw else raw
        if key is None:
            raise MalformedStreamError(
                f"tool-call arguments: invalid escape in the key ending at offset {self._offset + at}"
            )
        wanted = key in self.fields and key not in self._done_fields
        self._value_field = key if wanted else None
        self._state = _COLON

    def _read_scalar(self, fragment: str, i: int) -> int:
        match = _SCALAR_END.search(fragment, i)
        stop = len(fragment) if match is None else match.start()
        self._scalar.append(fragment[i:stop])
        if match is None:
            return stop
        token = "".join(self._scalar)
        if _SCALAR.fullmatch(token) is None:
            raise MalformedStreamError(
                f"tool-call arguments: {token[:40]!r} before offset {self._offset + stop} is not a JSON value"
            )
        self._value_done()
        return stop

    def _value_done(self) -> None:
        if self._value_field is not None:
            self._done_fields.add(self._value_field)
            self._value_field = None
        self._state = _AFTER_VALUE

    # -- skipping --------------------------------------------------------------------------------

    def _string_end(self, fragment: str, i: int) -> tuple[int, bool]:
        """Moves through the body of a string being skipped: (where it stopped, whether it closed)."""
        n = len(fragment)
        while i < n:
            if self._escape:
                self._escape = False
                i += 1
                continue
            match = _STRING_STOP.search(fragment, i)
            if match is None:
                return n, False
            i = match.start() + 1
            if fragment[match.start()] == "\\":
                self._escape = True
            else:
                return i, True
        return i, False

    def _skip_string(self, fragment: str, i: int) -> int:
        i, closed = self._string_end(fragment, i)
        if closed:
            self._value_done()
        return i

    def _skip_nested(self, fragment: str, i: int) -> int:
        n = len(fragment)
        while i < n:
            if self._in_nested_string:
                i, closed = self._string_end(fragment, i)
                self._in_nested_string = not closed
                continue
            match = _NESTED_STOP.search(fragment, i)
            if match is None:
                return n
            char = fragment[match.start()]
            i = match.start() + 1
            if char == '"':
                self._in_nested_string = True
            elif char in "{[":
                self._nested_depth += 1
            elif char in "}]":
                self._nested_depth -= 1
                if self._nested_depth == 0:
                    self._value_done()
                    return i
            else:
                raise MalformedStreamError(
                    f"tool-call arguments: a backslash outside a string at offset {self._offset + i - 1}"
                )
        return i

    # -- the wanted value ------------------------------------------------------------------------

    def _read_wanted(self, fragment: str, i: int, out: list[tuple[str, str]]) -> int:
        emitted: list[str] = []
        n = len(fragment)
        while i < n:
            if self._hex is not None:
                i = self._read_hex(fragment, i, emitted)
                continue
            if self._escape:
                self._escape = False
                char = fragment[i]
                if char == "u":
                    self._hex = ""
                    i += 1
                    continue
                decoded = _SIMPLE_ESCAPES.get(char)
                if decoded is None:
                    raise MalformedStreamError(
                        f"tool-call arguments: invalid escape '\\{char}' at offset {self._offset + i - 1}"
                    )
                self._flush_surrogate(emitted)
                emitted.append(decoded)
                i += 1
                continue
            match = _STRING_STOP.search(fragment, i)
            stop = n if match is None else match.start()
            if stop > i:
                self._flush_surrogate(emitted)
                emitted.append(fragment[i:stop])
            if match is None:
                i = n
                break
            i = stop + 1
            if fragment[stop] == "\\":
                self._escape = True
            else:
                self._flush_surrogate(emitted)
                self._emit(out, emitted)
                self._value_done()
                return i
        self._emit(out, emitted)
        return i

    def _read_hex(self, fragment: str, i: int, emitted: list[str]) -> int:
        digits = self._hex or ""
        take = fragment[i : i + 4 - len(digits)]
        digits += take
        if not all(c in _HEX for c in take):
            raise MalformedStreamError(
                f"tool-call arguments: invalid \\u escape '\\u{digits}' near offset {self._offset + i}"
            )
        if len(digits) < 4:
            self._hex = digits
            return i + len(take)
        self._hex = None
        code = int(digits, 16)
        pending = self._high_surrogate
        if pending is not None and 0xDC00 <= code <= 0xDFFF:
            self._high_surrogate = None
            high = ord(pending)
            emitted.append(chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00)))
        else:
            self._flush_surrogate(emitted)
            if 0xD800 <= code <= 0xDBFF:
                self._high_surrogate = chr(code)  # its low half may follow as the next escape
            else:
                emitted.append(chr(code))
        return i + len(take)

    def _flush_surrogate(self, emitted: list[str]) -> None:
        # A high surrogate not followed by a low one stays a lone surrogate, as json.loads does.
        if self._high_surrogate is not None:
            emitted.append(self._high_surrogate)
            self._high_surrogate = None

    def _emit(self, out: list[tuple[str, str]], emitted: list[str]) -> None:
        if emitted and self._value_field is not None:
            out.append((self._value_field, "".join(emitted)))


def _decode_key(raw: str) -> str | None:
    try:
        key = json.loads(f'"{raw}"')
    except ValueError:
        return None
    return key if isinstance(key, str) else None
