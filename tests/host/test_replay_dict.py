"""DictReplayGuard (send/replay_dict.py, the router's replay memory on CPython) against ReplayGuard.

The whole dual replay suite (tests/dual/test_replay.py) runs again on the dict version, but
for the tests about the slabs themselves; then both implementations take the same long
random sequence of checks, commits and forgets, through eviction, expiry, stale peers, long
nonces and a clock that goes back, and must decide and remember alike at every step.
"""

import pytest
import test_replay

from handoverkey.send.replay import ReplayGuard
from handoverkey.send.replay_dict import DictReplayGuard

S = test_replay.S
WALL = test_replay.WALL
# These look at ReplayGuard's slabs, which the dict version does not have.
SLAB_ONLY = ("test_memory_is_preallocated", "test_slot_lookup_is_aligned_and_ignores_free_slots")


@pytest.mark.parametrize("name", sorted(n for n in dir(test_replay) if n.startswith("test_") and n not in SLAB_ONLY))
def test_dual_replay_suite_on_the_dict_version(name, monkeypatch):
    monkeypatch.setattr(test_replay, "ReplayGuard", DictReplayGuard)
    if name == "test_long_nonces_are_remembered_by_digest":
        # Its last line measures the slab; the rest is about what is remembered.
        monkeypatch.setattr(DictReplayGuard, "_nkey", property(lambda g: bytes(37 * g.nonce_capacity)), raising=False)
    getattr(test_replay, name)()


_reason = test_replay._reason  # the reason a check raised, or None


def test_slabs_and_dicts_decide_and_remember_alike():
    slab = ReplayGuard(5, 7)
    dicts = DictReplayGuard(5, 7)
    sources = [bytes(15) + bytes((i,)) for i in range(8)]
    x = 12345
    now = 0
    verdicts = set()
    for step in range(3000):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        src = sources[x % 8]
        nonce = None if x & 0x300000 == 0 else bytes(((x >> 8) % 3,)) * (6 if x & 0x10000 else 18)
        # Mostly forwards in small steps, sometimes a long gap, now and then backwards.
        now += (0, 700, 3000, 90_000, 400_000, -2000)[(x >> 12) % 6]
        wall = WALL + now // 1000
        ts = (wall + ((x >> 20) % 5 - 2) * 200) * S
        op = (x >> 4) % 8
        if op == 0:
            slab.forget(src)
            dicts.forget(src)
        elif op < 4:
            got = _reason(slab.check, src, ts, nonce, now, wall)
            assert got == _reason(dicts.check, src, ts, nonce, now, wall), step
            verdicts.add(got)
        else:
            got = _reason(slab.commit, src, ts, nonce, now, wall)
            assert got == _reason(dicts.commit, src, ts, nonce, now, wall), step
            verdicts.add(got)
        for s in sources:
            assert slab.peer(s) == dicts.peer(s), step
        assert slab.peer_count() == dicts.peer_count(), step
        assert slab.nonce_count() == dicts.nonce_count(), step
        assert slab.nonce_count(now) == dicts.nonce_count(now), step
    # The run went through every verdict, so each path of both was compared.
    assert verdicts == {None, "replay", "timestamp"}


def test_a_freed_copy_is_not_forgotten_twice():
    # An expired nonce recorded again moves to a new ring position; when the ring comes back
    # to the old position it must not take the new copy with it.
    g = DictReplayGuard(2, 3)
    src = bytes(15) + b"\x01"
    life = 2 * 301 * 1000
    g.commit(src, WALL * S, b"a" * 6, 0, WALL)
    t = life
    g.commit(src, (WALL + t // 1000) * S, b"a" * 6, t, WALL + t // 1000)  # expired copy freed, new one at 1
    g.commit(src, (WALL + t // 1000) * S, b"b" * 6, t, WALL + t // 1000)  # position 2
    g.commit(src, (WALL + t // 1000) * S, b"c" * 6, t, WALL + t // 1000)  # position 0: the old "a" position
    assert _reason(g.check, src, (WALL + t // 1000) * S, b"a" * 6, t + 1, WALL + t // 1000) == "replay"
    assert g.nonce_count(t) == 3
