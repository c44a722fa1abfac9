"""RFC 3971 §5.3.4 timestamp window and nonce replay memory on both interpreters."""

from dualtest import raises
from handoverkey.errors import DecodeError, EncodeError, VerifyError
from handoverkey.send.replay import ReplayGuard

S = 65536  # Timestamp units per second (48.16 fixed point)
DELTA = 300 * S
WALL = 1_700_000_000
TS = WALL * S
A = bytes.fromhex("fe800000000000003c4a5bf6ffb4ca6c")
B = bytes.fromhex("20010db8000100020000000000000001")
N1 = b"\x01\x02\x03\x04\x05\x06"
N2 = b"\x01\x02\x03\x04\x05\x07"


def _src(i):
    return bytes(15) + bytes((i,))


def _reason(fn, *args):
    try:
        fn(*args)
    except VerifyError as e:
        return e.reason
    return None


def _state(g):
    """A deep snapshot of everything the guard remembers (slabs, or DictReplayGuard's dicts)."""
    if hasattr(g, "_peers"):
        return (
            [(k, list(v)) for k, v in g._peers.items()],
            [(k, list(v)) for k, v in g._nonces.items()],
            list(g._ring),
            g._nnext,
        )
    return (
        bytes(g._pkey),
        bytes(g._pts),
        bytes(g._pwall),
        list(g._prd),
        list(g._puse),
        g._stamp,
        bytes(g._nkey),
        list(g._nseen),
        bytes(g._nuse),
        g._pfresh,
        g._nnext,
    )


def test_new_peer_window_edges_are_strict():
    g = ReplayGuard(8)
    # -Delta < RDnew - TSnew < +Delta, RDnew = wall_s in 1/65536 s.
    assert _reason(g.check, A, TS - DELTA + 1, N1, 0, WALL) is None
    assert _reason(g.check, A, TS - DELTA, N1, 0, WALL) == "timestamp"
    assert _reason(g.check, A, TS + DELTA - 1, N1, 0, WALL) is None
    assert _reason(g.check, A, TS + DELTA, N1, 0, WALL) == "timestamp"
    assert _reason(g.check, A, 0, N1, 0, WALL) == "timestamp"
    assert _reason(g.check, A, (1 << 64) - 1, N1, 0, WALL) == "timestamp"
    # The same edges hold for commit, which records only the accepted ones.
    assert _reason(g.commit, A, TS - DELTA, N1, 0, WALL) == "timestamp"
    assert g.peer_count() == 0
    g.commit(A, TS - DELTA + 1, N1, 0, WALL)
    assert g.peer_count() == 1


def test_custom_window_parameters():
    g = ReplayGuard(2, None, 10, 0, 0)
    assert _reason(g.check, A, TS - 10 * S, None, 0, WALL) == "timestamp"
    assert _reason(g.check, A, TS - 10 * S + 1, None, 0, WALL) is None


def test_known_peer_drift_rule_edge():
    g = ReplayGuard(8)
    g.commit(A, TS, N1, 1000, WALL)
    # 100 s later: TSnew + 1 > TS + 100 s * 0.99 - 1, i.e. TSnew - TS > 97 s.
    now, wall = 101_000, WALL + 100
    assert _reason(g.check, A, TS + 97 * S + 1, N2, now, wall) is None
    assert _reason(g.check, A, TS + 97 * S, N2, now, wall) == "timestamp"
    # One second later the bound moves by 0.99 s: 97.99 s.
    assert _reason(g.check, A, TS + 97 * S + 65*S//100, N2, now + 1000, wall + 1) == "timestamp"
    assert _reason(g.check, A, TS + 98 * S, N2, now + 1000, wall + 1) is None


def test_known_peer_is_judged_by_drift_not_by_delta():
    g = ReplayGuard(8)
    g.commit(A, TS, N1, 0, WALL)
    far = TS + 1000 * S
    # A new peer this far ahead would be refused...
    assert _reason(g.check, B, far, N1, 5000, WALL + 5) == "timestamp"
    # ...a known one is compared with its own last timestamp and has no upper bound.
    assert _reason(g.check, A, far, N2, 5000, WALL + 5) is None


def test_timestamps_update_only_when_newer():
    g = ReplayGuard(8)
    g.commit(A, TS, N1, 0, WALL)
    # Older by one second but within 2 * fuzz: accepted, RDlast/TSlast unchanged.
    g.commit(A, TS - S, N2, 0, WALL)
    assert g.peer(A) == (0, TS, WALL)
    # Newer: both move.
    g.commit(A, TS + 10 * S, b"nonce3", 10_000, WALL + 10)
    assert g.peer(A) == (10_000, TS + 10 * S, WALL + 10)
    # The drift bound now runs from the new values.
    now = 110_000
    assert _reason(g.check, A, TS + 10 * S + 97 * S + 1, b"n4", now, WALL + 110) is None
    assert _reason(g.check, A, TS + 10 * S + 97 * S, b"n4", now, WALL + 110) == "timestamp"


def test_exact_replay_is_dropped():
    g = ReplayGuard(8)
    g.commit(A, TS, N1, 0, WALL)
    for dt in (0, 1, 1500, 60_000):
        assert _reason(g.check, A, TS, N1, dt, WALL + dt // 1000) in ("replay", "timestamp")
    assert _reason(g.check, A, TS, N1, 1, WALL) == "replay"
    # A fresh nonce with the same timestamp passes the drift rule right away.
    assert _reason(g.check, A, TS, N2, 1, WALL) is None
    # The pair is per source: another source may use the same nonce.
    assert _reason(g.check, B, TS, N1, 1, WALL) is None
    # Even when the peer entry is gone (evicted or stale), the nonce memory still catches it.
    g.forget(A)
    assert g.peer(A) is None
    assert _reason(g.check, A, TS, N1, 2000, WALL + 2) == "replay"
    assert _reason(g.commit, A, TS, N1, 2000, WALL + 2) == "replay"


def test_nonce_memory_lasts_two_windows_then_expires():
    g = ReplayGuard(8)
    g.commit(A, TS, N1, 0, WALL)
    life = 2 * 301 * 1000
    g.forget(A)
    assert _reason(g.check, A, TS + 600 * S, N1, life - 1, WALL + 600) == "replay"
    assert _reason(g.check, A, TS + 600 * S, N1, life, WALL + 600) is None
    # An expired nonce no longer counts.
    assert g.nonce_count() == 1 and g.nonce_count(life) == 0
    g.commit(B, TS + 602 * S, N2, life, WALL + 602)
    assert g.nonce_count() == 2 and g.nonce_count(life) == 1
    # Recording the same pair again frees its expired copy: one slot per pair, the new one live.
    g.commit(A, TS + 600 * S, N1, life, WALL + 600)
    assert g.nonce_count() == 2 and g.nonce_count(life) == 2
    assert _reason(g.check, A, TS + 600 * S, N1, life + 1, WALL + 600) == "replay"
    assert _reason(g.check, A, TS + 600 * S, N1, 2 * life - 1, WALL + 1200) == "replay"


def test_nonce_ring_reuses_the_slot_remembered_longest():
    g = ReplayGuard(2, 3)
    for i in range(3):
        g.commit(A, TS, bytes((i,)) * 6, i, WALL)
    # Full and all live: the fourth nonce takes the first one's slot, the others stay.
    g.commit(A, TS, b"\x03" * 6, 3, WALL)
    assert g.nonce_count(4) == 3
    assert [_reason(g.check, A, TS, bytes((i,)) * 6, 4, WALL) for i in range(4)] == [None, "replay", "replay", "replay"]
    # The ring goes round in order of age: the fifth nonce takes the second one's slot.
    g.commit(A, TS, b"\x04" * 6, 4, WALL)
    assert _reason(g.check, A, TS, b"\x01" * 6, 5, WALL) is None
    assert _reason(g.check, A, TS, b"\x02" * 6, 5, WALL) == "replay"


def test_failed_check_or_commit_changes_nothing():
    g = ReplayGuard(4, 4)
    g.commit(A, TS, N1, 0, WALL)
    g.commit(B, TS, N2, 10, WALL)
    before = _state(g)
    attempts = (
        (A, TS, N1, 20, WALL),  # replay
        (A, TS - 10 * S, b"other", 20, WALL),  # behind the drift bound
        (_src(9), TS + DELTA, b"x", 20, WALL),  # new peer outside the window
    )
    for args in attempts:
        assert _reason(g.check, *args) is not None
        assert _state(g) == before
        assert _reason(g.commit, *args) is not None
        assert _state(g) == before
    # A passing check does not record anything either; only commit does.
    assert _reason(g.check, _src(7), TS, b"y", 20, WALL) is None
    assert _state(g) == before
    # A message that passed check() but then failed a later verification step is simply
    # never committed: the same message, now correct, is still accepted afterwards.
    g.commit(_src(7), TS, b"y", 30, WALL)
    assert g.peer_count() == 3


def test_peer_capacity_bound_and_lru_eviction():
    g = ReplayGuard(4, 100)
    for i in range(10):
        g.commit(_src(i), TS, None, i, WALL)
        assert g.peer_count() <= 4
    assert g.peer_count() == 4
    assert [g.peer(_src(i)) is not None for i in range(10)] == [False] * 6 + [True] * 4
    # Touching the oldest makes it recent; the next newcomer evicts the one after it.
    g.commit(_src(6), TS, None, 20, WALL)
    g.commit(_src(10), TS, None, 21, WALL)
    assert g.peer(_src(6)) is not None and g.peer(_src(7)) is None
    # An evicted peer is judged as new again (far-future timestamp refused).
    assert _reason(g.check, _src(7), TS + 1000 * S, None, 22, WALL) == "timestamp"
    assert _reason(g.check, _src(8), TS + 1000 * S, None, 22, WALL) is None


def test_nonce_capacity_bound():
    g = ReplayGuard(2, 3)
    for i in range(10):
        g.commit(A, TS, bytes((i,)) * 6, i, WALL)
        assert g.nonce_count() <= 3
    assert g.nonce_count() == 3
    # The three most recent are remembered; the older ones were evicted oldest first.
    for i in range(10):
        assert _reason(g.check, A, TS, bytes((i,)) * 6, 11, WALL) == ("replay" if i >= 7 else None), i
    # Default nonce capacity is twice the peer capacity.
    assert ReplayGuard(5).nonce_capacity == 10


def test_long_nonces_are_remembered_by_digest():
    g = ReplayGuard(2)
    long1 = bytes(range(22))
    long2 = bytes(range(1, 23))
    g.commit(A, TS, long1, 0, WALL)
    assert _reason(g.check, A, TS, long1, 1, WALL) == "replay"
    assert _reason(g.check, A, TS, long2, 1, WALL) is None
    assert _reason(g.check, A, TS, memoryview(bytearray(long1)), 1, WALL) == "replay"
    # Slots are zero-padded: a nonce and the same nonce with a zero octet appended differ.
    g.commit(A, TS, N1, 2, WALL)
    assert _reason(g.check, A, TS, N1 + b"\x00", 3, WALL) is None
    assert _reason(g.check, A, TS, N1[:5], 3, WALL) is None
    assert _reason(g.check, A, TS, N1, 3, WALL) == "replay"
    # Every slot is fixed-size: a long nonce cannot grow the memory.
    assert len(g._nkey) == 37 * g.nonce_capacity


def test_no_nonce_relies_on_the_timestamp_alone():
    g = ReplayGuard(2)
    g.commit(A, TS, None, 0, WALL)
    assert g.nonce_count() == 0
    assert _reason(g.check, A, TS, None, 1000, WALL + 1) is None
    assert _reason(g.check, A, TS, None, 3000, WALL + 3) == "timestamp"


def test_monotonic_ticks_wrap():
    g = ReplayGuard(2)
    top = (1 << 30) - 500
    g.commit(A, TS, N1, top, WALL)
    # 1000 ms later the tick counter has wrapped to 500.
    assert _reason(g.check, A, TS, N1, 500, WALL + 1) == "replay"
    assert _reason(g.check, A, TS + 1000 * S, N2, 500, WALL + 1) is None
    g.commit(A, TS + S, N2, 500, WALL + 1)
    assert g.peer(A)[0] == 500


def test_stale_peer_is_judged_as_new():
    g = ReplayGuard(2)
    g.commit(A, TS, N1, 0, WALL)
    day = 86_400
    # More than a day later the entry is ignored, so a far-future stamp meets the Delta window.
    assert _reason(g.check, A, TS + (day + 1000) * S, N2, (day + 1) * 1000, WALL + day + 1) == "timestamp"
    assert _reason(g.check, A, TS + (day + 1) * S, N2, (day + 1) * 1000, WALL + day + 1) is None
    # A wall clock that stepped back by more than a day also retires the entry.
    assert _reason(g.check, A, TS + 1000 * S, N2, 10, WALL - day - 1) == "timestamp"


def test_argument_errors():
    g = ReplayGuard(1)
    raises(DecodeError, g.check, A[:15], TS, N1, 0, WALL)
    raises(DecodeError, g.commit, A + b"\x00", TS, N1, 0, WALL)
    raises(DecodeError, g.peer, A[:4])
    for args in ((A, -1, N1, 0, WALL), (A, 1 << 64, N1, 0, WALL), (A, TS, N1, 0, 1.5), (A, TS, N1, 0.5, WALL), (A, TS, N1, 0, -1), (A, TS, N1, 0, 1 << 62)):
        raises(EncodeError, g.check, *args)
        raises(EncodeError, g.commit, *args)
    assert g.peer_count() == 0 and g.nonce_count() == 0
    for bad in (0, -1, None, 1.5):
        raises(EncodeError, ReplayGuard, bad)
    raises(EncodeError, ReplayGuard, 1, 0)
    raises(EncodeError, ReplayGuard, 1, None, 0)
    raises(EncodeError, ReplayGuard, 1, None, 300, 1, 101)


def test_slot_lookup_is_aligned_and_ignores_free_slots():
    g = ReplayGuard(4, 4)
    zero = bytes(16)
    # Free slots are zero-filled; the unspecified address must not be found in them.
    assert g.peer(zero) is None
    assert _reason(g.check, zero, TS + 1000 * S, None, 0, WALL) == "timestamp"
    g.commit(zero, TS, None, 0, WALL)
    assert g.peer(zero) == (0, TS, WALL)
    # Two neighbouring slots hold ...0001 | 0200...; the 16 octets straddling them are no peer.
    g.commit(bytes(15) + b"\x01", TS, b"n1", 1, WALL)
    g.commit(b"\x02" + bytes(15), TS, b"n2", 2, WALL)
    straddle = bytes(14) + b"\x01\x02"
    assert g.peer(straddle) is None
    assert _reason(g.check, straddle, TS + 1000 * S, None, 3, WALL) == "timestamp"


def test_memory_is_preallocated():
    g = ReplayGuard(8, 16)
    sizes = (len(g._pkey), len(g._pts), len(g._pwall), len(g._prd), len(g._puse), len(g._nkey), len(g._nseen), len(g._nuse))
    for i in range(300):
        g.commit(_src(i & 255), TS + i, bytes((i & 255, i >> 8)) * 3 + bytes(30), i, WALL)
    assert sizes == (len(g._pkey), len(g._pts), len(g._pwall), len(g._prd), len(g._puse), len(g._nkey), len(g._nseen), len(g._nuse))
    assert g.peer_count() == 8 and g.nonce_count() == 16
