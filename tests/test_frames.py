"""frames: what the child writes, the parent reads back, torn ends included."""

from __future__ import annotations

import io

import pytest

from fetchbench.frames import FrameError, TornFrame, decode, encode, read_payloads

MESSAGES = [
    {"records": [("thread", 8, 1, 1, 0, "http://h/0", 200, 10, 0.5, 0.1, 0.2, "", "")]},
    {"records": []},
    {"meta": {"wall_s": 1.5, "complete": True, "note": "", "probe": {"cpu_ids": [0, 1],
                                                                       "gap": None}}},
]


def test_messages_come_back_in_order_and_equal():
    stream = io.BytesIO(b"".join(encode(m) for m in MESSAGES))
    assert [decode(p) for p in read_payloads(stream)] == MESSAGES


@pytest.mark.parametrize("cut", [1, 3, 4, 7])
def test_a_torn_last_frame_is_an_error_after_the_whole_ones(cut):
    whole = encode(MESSAGES[0])
    stream = io.BytesIO(whole + encode(MESSAGES[2])[:cut])
    payloads = read_payloads(stream)
    assert decode(next(payloads)) == MESSAGES[0]
    with pytest.raises(TornFrame):
        next(payloads)


def test_an_absurd_length_is_corruption_not_a_torn_end():
    with pytest.raises(FrameError, match="corrupt") as caught:
        list(read_payloads(io.BytesIO(b"\xff\xff\xff\xff" + b"x" * 10)))
    assert not isinstance(caught.value, TornFrame)
