"""STOMP 1.2 framing, as vdsmd and vdsm-client speak it (pure: bytes in, frames out).

A frame::

    COMMAND EOL
    name:value EOL        (repeated; the first occurrence of a name wins)
    EOL
    body NUL              (exactly content-length bytes when that header is present, then NUL)

EOL is LF or CR LF. A bare EOL between frames is a heart-beat. Header names and values escape
backslash, colon, LF and CR as `\\\\`, `\\c`, `\\n`, `\\r`, except in CONNECT and CONNECTED frames
(STOMP 1.2). An undefined escape is a protocol error.

`Parser.feed(data)` accepts any split of the byte stream and returns complete frames and heart-beats;
bad input raises StompError (the peer's fault) and the parser must not be used further.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vdsm_hosted_engine.errors import HostedEngineError

COMMANDS = frozenset(
    {
        "CONNECT",
        "STOMP",
        "CONNECTED",
        "SEND",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "ACK",
        "NACK",
        "BEGIN",
        "COMMIT",
        "ABORT",
        "DISCONNECT",
        "MESSAGE",
        "RECEIPT",
        "ERROR",
    }
)
_LONGEST_COMMAND = max(map(len, COMMANDS))
UNESCAPED_COMMANDS = frozenset({"CONNECT", "CONNECTED"})
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

_ESCAPES = {"\\": "\\\\", ":": "\\c", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "c": ":", "n": "\n", "r": "\r"}


class StompError(HostedEngineError):
    """The peer sent something that is not STOMP 1.2."""

    code = -32700
    expected = True


@dataclass(frozen=True)
class Frame:
    command: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def encode(self) -> bytes:
        escape = self.command not in UNESCAPED_COMMANDS
        lines = [self.command]
        headers = dict(self.headers)
        if self.body and "content-length" not in headers:
            headers["content-length"] = str(len(self.body))
        for name, value in headers.items():
            lines.append(f"{_escape(name) if escape else name}:{_escape(str(value)) if escape else value}")
        return ("\n".join(lines) + "\n\n").encode("utf-8") + self.body + b"\0"


HEARTBEAT = object()  # what the parser yields for a bare EOL between frames


def _escape(text: str) -> str:
    return "".join(_ESCAPES.get(c, c) for c in text)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _UNESCAPES:
                raise StompError(f"undefined escape sequence in header: {text[i : i + 2]!r}")
            out.append(_UNESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Parser:
    def __init__(self, max_header: int = MAX_HEADER_BYTES, max_body: int = MAX_BODY_BYTES) -> None:
        self._buf = bytearray()
        self._max_header = max_header
        self._max_body = max_body
        self._head: tuple[str, dict[str, str], int | None] | None = None  # parsed head awaiting its body

    def feed(self, data: bytes) -> list[Frame | object]:
        self._buf += data
        out: list[Frame | object] = []
        while True:
            item = self._next()
            if item is None:
                return out
            out.append(item)

    def _next(self) -> Frame | object | None:
        if self._head is None:
            # Heart-beats: bare EOLs before a frame.
            if self._buf[:1] == b"\n":
                del self._buf[:1]
                return HEARTBEAT
            if self._buf[:2] == b"\r\n":
                del self._buf[:2]
                return HEARTBEAT
            if self._buf[:1] == b"\r" and len(self._buf) == 1:
                return None
            self._check_command_line()
            end = self._buf.find(b"\n\n")
            end_crlf = self._buf.find(b"\r\n\r\n")
            ends = [(e, 2) for e in (end,) if e >= 0] + [(e, 4) for e in (end_crlf,) if e >= 0]
            if not ends:
                if len(self._buf) > self._max_header:
                    raise StompError(f"frame head longer than {self._max_header} bytes")
                return None
            head_end, sep = min(ends)
            head = bytes(self._buf[:head_end])
            del self._buf[: head_end + sep]
            self._head = self._parse_head(head)
        command, headers, length = self._head
        if length is not None:
            if len(self._buf) < length + 1:
                return None
            body = bytes(self._buf[:length])
            if self._buf[length] != 0:
                raise StompError("frame body is not followed by NUL after content-length bytes")
            del self._buf[: length + 1]
        else:
            nul = self._buf.find(b"\0")
            if nul < 0:
                if len(self._buf) > self._max_body:
                    raise StompError(f"frame body longer than {self._max_body} bytes")
                return None
            body = bytes(self._buf[:nul])
            del self._buf[: nul + 1]
        self._head = None
        return Frame(command, headers, body)

    def _check_command_line(self) -> None:
        """Refuse garbage as soon as its first line cannot be a command, not after 64 KiB."""
        newline = self._buf.find(b"\n")
        line = bytes(self._buf[:newline] if newline >= 0 else self._buf).rstrip(b"\r")
        if newline < 0 and len(line) <= _LONGEST_COMMAND and any(c.encode().startswith(line) for c in COMMANDS):
            return
        if line.decode("ascii", "replace") not in COMMANDS:
            raise StompError(f"unknown command {line[:20]!r}")

    def _parse_head(self, head: bytes) -> tuple[str, dict[str, str], int | None]:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            raise StompError("frame head is not UTF-8") from None
        lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
        command = lines[0]
        if command not in COMMANDS:
            raise StompError(f"unknown command {command[:20]!r}")
        escaped = command not in UNESCAPED_COMMANDS
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise StompError(f"header line without ':': {line[:40]!r}")
            if escaped:
                name, value = _unescape(name), _unescape(value)
            headers.setdefault(name, value)
        length = None
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise StompError(f"bad content-length {headers['content-length'][:20]!r}") from None
            if not 0 <= length <= self._max_body:
                raise StompError(f"content-length {length} out of range 0..{self._max_body}")
        return command, headers, length
