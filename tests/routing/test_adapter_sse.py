"""The incremental SSE parser gives the same events whatever the read boundaries are."""

import random

import pytest

from apps.routing.adapters.sse import SSEEvent, SSEParser

STREAM = (
    ": keep-alive comment\n"
    "event: message_start\n"
    'data: {"type":"message_start"}\n'
    "\n"
    "data: first line\n"
    "data: second line\n"
    "id: 7\n"
    "\n"
    "event: ping\n"
    "data:no-space\n"
    "retry: 100\n"
    "\n"
    "event: only-a-name\n"
    "\n"
    "data: caf\u00e9 \u2603\n"
    "\n"
).encode()

EXPECTED = [
    SSEEvent(data='{"type":"message_start"}', event="message_start", id=None),
    SSEEvent(data="first line\nsecond line", event="message", id="7"),
    SSEEvent(data="no-space", event="ping", id="7"),
    SSEEvent(data="caf\u00e9 \u2603", event="message", id="7"),
]


def _split(payload: bytes, rng: random.Random) -> list[bytes]:
    pieces, start = [], 0
    while start < len(payload):
        size = rng.randint(1, 9)
        pieces.append(payload[start : start + size])
        start += size
    return pieces


def _parse(pieces: list[bytes]) -> list[SSEEvent]:
    parser = SSEParser()
    events = [event for piece in pieces for event in parser.feed(piece)]
    return events + parser.close()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("seed", range(25))
def test_random_splits_and_line_endings_give_the_same_events(newline, seed):
    payload = STREAM.replace(b"\n", newline.encode())
    assert _parse(_split(payload, random.Random(seed))) == EXPECTED


def test_byte_by_byte_with_crlf_split_between_cr_and_lf():
    payload = b"data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n"
    assert _parse([payload[i : i + 1] for i in range(len(payload))]) == [
        SSEEvent(data="a\nb"),
        SSEEvent(data="c"),
    ]


def test_lone_lf_after_a_cr_that_already_ended_the_line_is_a_blank_line():
    parser = SSEParser()
    assert parser.feed(b"data: x\r") == []
    assert parser.feed(b"\n") == []  # second half of CRLF
    assert parser.feed(b"\n") == [SSEEvent(data="x")]  # a real blank line


def test_close_delivers_an_unterminated_last_event():
    parser = SSEParser()
    assert parser.feed(b'data: {"done": true}') == []
    assert parser.close() == [SSEEvent(data='{"done": true}')]


def test_unknown_lines_are_kept_only_when_asked():
    body = b'data: 1\n\n{\n  "error": {"code": 500}\n}\n'
    quiet, keeping = SSEParser(), SSEParser(keep_unknown=True)
    assert quiet.feed(body) == [SSEEvent(data="1")]
    assert quiet.unknown == []
    assert keeping.feed(body) == [SSEEvent(data="1")]
    assert keeping.unknown == ["{", '  "error": {"code": 500}', "}"]
