"""ReplayGuard against a direct, unbounded transcription of RFC 3971 §5.3.4.2 (Hypothesis)."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from handoverkey.errors import VerifyError
from handoverkey.send.replay import ReplayGuard
from handoverkey.send.replay_dict import DictReplayGuard

# Both implementations: the slabs (MicroPython's) and the dicts (the router's on CPython).
GUARDS = (ReplayGuard, DictReplayGuard)

S = 65536
WALL0 = 1_700_000_000
SOURCES = [bytes(15) + bytes((i,)) for i in range(4)]
NONCES = [bytes((i,)) * 6 for i in range(6)]


class Model:
    """The RFC inequalities in exact rational seconds, with dicts that never forget."""

    def __init__(self):
        self.peers = {}
        self.nonces = {}

    def decide(self, src, ts, nonce, now_ms, wall_s):
        seen = self.nonces.get((src, nonce))
        if nonce is not None and seen is not None and now_ms - seen < 602_000:
            return "replay"
        ts_s = Fraction(ts, S)
        if src not in self.peers:
            rd = Fraction(wall_s)
            return None if -300 < rd - ts_s < 300 else "timestamp"
        rd_last, ts_last = self.peers[src]
        rd_new = Fraction(now_ms, 1000)
        ok = ts_s + 1 > ts_last + (rd_new - rd_last) * Fraction(99, 100) - 1
        return None if ok else "timestamp"

    def commit(self, src, ts, nonce, now_ms, wall_s):
        ts_s = Fraction(ts, S)
        if src not in self.peers or ts_s > self.peers[src][1]:
            self.peers[src] = (Fraction(now_ms, 1000), ts_s)
        if nonce is not None:
            self.nonces[(src, nonce)] = now_ms


ops = st.lists(
    st.tuples(
        st.sampled_from(["check", "commit"]),
        st.integers(0, 3),
        st.one_of(st.none(), st.integers(0, 5)),
        st.integers(0, 400_000),  # ms since the previous operation
        st.integers(-400 * S, 400 * S),  # sender clock offset from ours, in 1/65536 s
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(ops, st.sampled_from(GUARDS))
def test_guard_matches_the_rfc_rules_while_nothing_is_evicted(seq, guard):
    g = guard(len(SOURCES), len(SOURCES) * len(NONCES))
    m = Model()
    now = 1000
    for kind, si, ni, dt, offset in seq:
        now += dt
        wall = WALL0 + now // 1000
        ts = max(0, wall * S + offset)
        src = SOURCES[si]
        nonce = None if ni is None else NONCES[ni]
        expect = m.decide(src, ts, nonce, now, wall)
        try:
            getattr(g, kind)(src, ts, nonce, now, wall)
            got = None
        except VerifyError as e:
            got = e.reason
        assert got == expect, (kind, si, ni, now, offset)
        if kind == "commit" and got is None:
            m.commit(src, ts, nonce, now, wall)
        assert g.peer_count() <= len(SOURCES)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 50), st.integers(0, 2000)), max_size=200),
       st.sampled_from(GUARDS))
def test_capacity_bound_under_churn(seq, guard):
    g = guard(5, 7)
    now = 0
    for src, nonce, dt in seq:
        now += dt
        try:
            g.commit(bytes(15) + bytes((src,)), (WALL0 + now // 1000) * S, bytes((nonce,)) * 6, now, WALL0 + now // 1000)
        except VerifyError:
            pass
        assert g.peer_count() <= 5 and g.nonce_count() <= 7
