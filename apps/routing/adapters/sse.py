"""Incremental Server-Sent Events parser (WHATWG rules): bytes in at arbitrary split points, events out."""

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEParser:
    """Feed raw bytes as they arrive; complete events come back in order.

    Lines end with CRLF, LF or CR. Bytes are split into lines before decoding, so a UTF-8 sequence cut
    across reads is never decoded half-way. With `keep_unknown`, lines that are neither a known field nor
    a comment are collected in `unknown` (Gemini sends a bare JSON error object mid-stream).
    """

    __slots__ = ("_data", "_event", "_id", "_pending", "_skip_lf", "keep_unknown", "last_event_id", "unknown")

    def __init__(self, *, keep_unknown: bool = False):
        self._pending = b""  # the current unterminated line (never holds CR or LF)
        self._skip_lf = False  # the last read ended with CR: an LF opening the next read belongs to it
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self.last_event_id: str | None = None
        self.keep_unknown = keep_unknown
        self.unknown: list[str] = []

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
            self._skip_lf = False
        if not chunk:
            return []
        self._skip_lf = chunk[-1:] == b"\r"
        buffer = self._pending + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._pending = buffer.split(b"\n")
        events: list[SSEEvent] = []
        for line in lines:
            if (event := self._line(line.decode("utf-8", "replace"))) is not None:
                events.append(event)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a last line or event left without its terminator is still delivered."""
        events: list[SSEEvent] = []
        if self._pending:
            line, self._pending = self._pending, b""
            if (event := self._line(line.decode("utf-8", "replace"))) is not None:
                events.append(event)
        if (event := self._line("")) is not None:
            events.append(event)
        return events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        field, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            if "\0" not in value:
                self._id = value
        elif field == "retry":
            pass
        elif self.keep_unknown:
            self.unknown.append(line)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data:
            self._event = ""
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self.last_event_id)
        self._data, self._event = [], ""
        return event


class SSEStreamDecoder:
    """The shared shell of the adapters' stream decoders: SSE events in, OpenAI chunks out (see `_chunks`)."""

    keep_unknown = False

    def __init__(self) -> None:
        self._sse = SSEParser(keep_unknown=self.keep_unknown)
        self.usage = None  # Usage, once the upstream reported it
        self.finish_reason: str | None = None
        self.error = None  # UpstreamError, when the upstream failed mid-stream
        self.done = False  # the upstream signalled a normal end; False after a cut stream

    def feed(self, data: bytes) -> list[dict]:
        return self._chunks(self._sse.feed(data))

    def close(self) -> list[dict]:
        return self._chunks(self._sse.close())

    def _chunks(self, events: list[SSEEvent]) -> list[dict]:
        raise NotImplementedError
