"""Hypothesis state machine: KeyTable behaves like the reference model under any sequence of operations."""

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from keytable_model import ModelTable

from handoverkey.errors import EncodeError
from handoverkey.keytable import KeyTable

# A small pool so that addresses repeat (replacement, hits) and tables overflow (eviction).
# Some share an interface identifier (octets 8-15) to force index collisions on the
# portable path; 0x30.. prefixes differ from 0x20.. only outside the hashed octets.
_IIDS = [bytes([0x02, i, 0, 0, 0, 0, i * 7 & 0xFF, 1]) for i in range(6)]
POOL = [bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 1]) + iid for iid in _IIDS] + [
    bytes([0x30, 0x01, 0x0D, 0xB8, 0, 0, 0, p]) + _IIDS[0] for p in range(6)
]


class KeyTableMachine(RuleBasedStateMachine):
    @initialize(
        capacity=st.integers(1, 9),
        portable=st.booleans(),
        salt=st.integers(0, 0xFFFFF),
    )
    def setup(self, capacity, portable, salt):
        self.t = KeyTable(capacity, salt=salt, portable=portable)
        self.m = ModelTable(capacity)
        self.now = 0

    @rule(
        a=st.sampled_from(POOL),
        at=st.sampled_from([0, 1]),
        key=st.binary(min_size=32, max_size=32),
        fp=st.binary(min_size=4, max_size=16),
        life_ms=st.integers(0, 20000),
    )
    def put(self, a, at, key, fp, life_ms):
        key = key[: 20 if at == 0 else 32]
        exp = self.now + life_ms
        if exp // 1000 <= self.now // 1000:
            # Not in the future at second resolution: refused, and nothing changes.
            before = list(self.t.items())
            try:
                self.t.put(a, fp, at, key, exp, self.now)
            except EncodeError:
                pass
            else:
                raise AssertionError("put accepted an expiry that is not in the future")
            assert list(self.t.items()) == before
            return
        s = self.t.put(a, fp, at, key, exp, self.now)
        self.m.put(a, fp, at, key, exp, self.now)
        assert bytes(self.t.key(s)) == key

    @rule(a=st.sampled_from(POOL), touch=st.booleans())
    def lookup_or_find(self, a, touch):
        # lookup makes the entry the most recently used; find leaves the LRU order alone
        # (the same_contents invariant compares the order after every step).
        s = self.t.lookup(a, self.now) if touch else self.t.find(a, self.now)
        e = self.m.lookup(a, self.now) if touch else self.m.find(a, self.now)
        assert (s >= 0) == (e is not None)
        if e is not None:
            assert bytes(self.t.key(s)) == e[2]
            assert self.t.at(s) == e[1]
            assert self.t.fingerprint_matches(s, e[0])
            for i in range(4):
                other = bytearray(e[0])
                other[i] ^= 0x40
                assert not self.t.fingerprint_matches(s, other)
            assert self.t.expiry_ms(s) == e[3] * 1000
            assert self.t.is_pinned(s) == e[4]
            assert self.t.address(s) == a

    @rule(a=st.sampled_from(POOL))
    def peek(self, a):
        s = self.t.peek(a, self.now)
        e = self.m.peek(a, self.now)
        assert (s >= 0) == (e is not None)
        if e is not None:
            assert bytes(self.t.key(s)) == e[2]

    @rule(a=st.sampled_from(POOL))
    def remove(self, a):
        assert self.t.remove(a) == self.m.remove(a)

    @rule(a=st.sampled_from(POOL), pin=st.booleans())
    def pin_or_unpin(self, a, pin):
        s = self.t.peek(a, self.now)
        if s < 0:
            return
        if pin:
            self.t.pin(s)
            self.m.pin(a)
        else:
            self.t.unpin(s)
            self.m.unpin(a)

    @rule(ms=st.integers(0, 6000))
    def advance(self, ms):
        self.now += ms

    @rule()
    def expire(self):
        assert self.t.expire(self.now) == self.m.expire(self.now)

    @precondition(lambda self: hasattr(self, "t"))
    @invariant()
    def same_contents(self):
        assert len(self.t) == len(self.m)
        assert len(self.t) <= self.t.capacity
        assert list(self.t.items(self.now)) == self.m.items(self.now)
        assert list(self.t.items()) == self.m.items()
        assert self.t.pinned_count() == sum(1 for e in self.m.entries.values() if e[4])


KeyTableMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=60, deadline=None)
TestKeyTableAgainstModel = KeyTableMachine.TestCase
