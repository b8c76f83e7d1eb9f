"""Frames read in whatever pieces a non-blocking pipe gives them, as the worker's
``Connection`` writes and reads them."""

from __future__ import annotations

import multiprocessing
import os

import pytest

from web.pipe_frames import Frames, framed


def test_a_message_is_whole_only_once_its_last_byte_has_come() -> None:
    stream = framed(b"first") + framed(b"") + framed(b"x" * 70_000)
    frames, found = Frames(), []
    for start in range(0, len(stream), 4093):  # pieces that split headers and bodies
        found += frames.feed(stream[start : start + 4093])
        if start + 4093 < len(stream):
            assert len(found) < 3
    assert found == [b"first", b"", b"x" * 70_000]


def test_frames_read_as_a_connection_writes_and_reads_them() -> None:
    here, there = multiprocessing.Pipe()
    try:
        there.send_bytes(b"from the worker")
        assert Frames().feed(os.read(here.fileno(), 1024)) == [b"from the worker"]
        os.write(here.fileno(), framed(b"to the worker"))
        assert there.recv_bytes() == b"to the worker"
    finally:
        here.close()
        there.close()


def test_a_header_no_worker_writes_is_refused() -> None:
    with pytest.raises(ValueError, match="2 GiB"):
        Frames().feed(b"\xff\xff\xff\xff")
