"""``ReadAhead``: py-amqp's exact-size reads served from large socket reads."""

from __future__ import annotations

import socket
import struct

import pytest

from dueq.shared.broker.readahead import CHUNK, ReadAhead


class FakeSocket:
    """A socket whose ``recv`` returns the queued chunks, then raises a timeout."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)
        self.asked: list[int] = []

    def recv(self, size: int) -> bytes:
        self.asked.append(size)
        if not self.chunks:
            raise TimeoutError("timed out")  # what socket.timeout is
        chunk = self.chunks.pop(0)
        assert len(chunk) <= size
        return chunk


def _frame(payload: bytes, frame_type: int = 3, channel: int = 1) -> bytes:
    return struct.pack(">BHI", frame_type, channel, len(payload)) + payload + b"\xce"


def test_many_small_reads_cost_one_socket_read() -> None:
    frames = b"".join(_frame(b"x" * n) for n in range(1, 50))
    sock = FakeSocket(frames)
    read = ReadAhead(sock.recv)
    pieces: list[bytes] = []
    while read.pending or not pieces:
        header = read(7)
        (size,) = struct.unpack(">I", header[3:])
        pieces.append(header + read(size) + read(1))
    assert b"".join(pieces) == frames
    assert sock.asked == [CHUNK]  # one system call for 49 frames, 147 reads


def test_a_read_never_returns_more_than_asked_and_loses_nothing_across_chunks() -> None:
    sock = FakeSocket(b"abcdef", b"ghij")
    read = ReadAhead(sock.recv)
    assert read(4) == b"abcd"
    assert read.pending == 2
    assert read(4) == b"ef"  # what is left ahead; py-amqp asks again for the rest
    assert read(4) == b"ghij"
    assert read.pending == 0


def test_a_timeout_passes_through_and_the_next_read_resumes() -> None:
    sock = FakeSocket(b"abc")
    read = ReadAhead(sock.recv)
    assert read(2) == b"ab"
    assert read(5) == b"c"
    with pytest.raises(socket.timeout):
        read(4)
    sock.chunks.append(b"defg")
    assert read(4) == b"defg"


def test_a_closed_connection_reads_as_empty() -> None:
    read = ReadAhead(FakeSocket(b"").recv)
    assert read(7) == b""


def test_a_frame_is_held_only_once_its_end_octet_is_here() -> None:
    frame = _frame(b"payload")
    for cut in range(len(frame)):
        read = ReadAhead(FakeSocket(frame[:cut]).recv)
        if cut:
            read(0)  # fill the buffer with what arrived so far
        assert not read.holds_frame(), cut
    read = ReadAhead(FakeSocket(frame + frame[:3]).recv)
    read(0)
    assert read.holds_frame()
    read(len(frame))
    assert not read.holds_frame()  # only the start of the next one
