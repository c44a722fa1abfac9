"""Token buckets of the router's flood control: rates, bursts, bounded per-source memory."""

from dualtest import raises

from handoverkey.errors import EncodeError
from handoverkey.ratelimit import SourceBuckets, TokenBucket


def test_burst_then_rate():
    b = TokenBucket(10, 3, now_ms=0)
    assert [b.take(0) for _ in range(4)] == [True, True, True, False]
    assert not b.take(99)  # 0.99 of a token after 99 ms at 10/s
    assert b.take(100)
    assert not b.take(100)
    # A long pause refills only up to the burst.
    assert [b.take(100000) for _ in range(4)] == [True, True, True, False]


def test_clock_going_backwards_adds_nothing():
    b = TokenBucket(1000, 1, now_ms=5000)
    assert b.take(5000) and not b.take(5000)
    assert not b.take(1000)
    assert not b.take(5000)
    assert b.take(5001)


def test_available_does_not_spend():
    b = TokenBucket(1, 1)
    assert b.available(0) and b.available(0)
    assert b.take(0) and not b.available(0)


def test_zero_rate_is_burst_only():
    b = TokenBucket(0, 2)
    assert [b.take(t) for t in (0, 10**6, 10**9)] == [True, True, False]


def test_bad_parameters_refused():
    raises(EncodeError, TokenBucket, -1, 1)
    raises(EncodeError, TokenBucket, 1, 0)
    raises(EncodeError, TokenBucket, 1.5, 1)
    raises(EncodeError, SourceBuckets, 1, 1, 0)


def test_sources_are_separate_and_bounded():
    s = SourceBuckets(1, 2, capacity=3)
    a, b = b"\x20" + bytes(15), b"\x21" + bytes(15)
    assert s.take(a, 0) and s.take(a, 0) and not s.take(a, 0)
    assert s.take(b, 0)  # another source has its own bucket
    for i in range(10):
        s.take(bytes([0x30 + i]) + bytes(15), 10 + i)
        assert len(s) <= 3
    # `a` was the source added longest ago and has been forgotten: a full bucket again.
    assert s.take(a, 100) and s.take(a, 100)
    # The three kept are the three added last; each eviction forgets exactly one.
    assert sorted(s._buckets) == sorted([a] + [bytes([0x30 + i]) + bytes(15) for i in (8, 9)])
    assert sorted(s._ring) == sorted(s._buckets)


def test_a_source_bucket_behaves_as_a_token_bucket():
    # SourceBuckets keeps each source's bucket as a small list; it must spend and refill as
    # TokenBucket does, through bursts, idle time, the cap and a clock that goes backwards.
    s = SourceBuckets(3, 5, capacity=4)
    t = TokenBucket(3, 5, 0)
    src = b"\x20" + bytes(15)
    x = 7
    now = 0
    got = []
    for _ in range(400):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        now += (x >> 8) % 700 - 100  # sometimes backwards
        a = s.take(src, now)
        assert a == t.take(now)
        got.append(a)
    assert True in got and False in got
    raises(EncodeError, SourceBuckets, 1.5, 1)
    raises(EncodeError, SourceBuckets, 1, 0)
