"""CPython only: ReplayGuard's rules kept in dicts, for the router on a host.

ReplayGuard (replay.py) keeps peers and nonces in preallocated slabs found by a scan, which
suits a board's heap. On CPython the scans and the packing into slabs are most of the cost
of a replay check, so the router there uses this subclass: the same window arithmetic
(ReplayGuard._timestamp_check, inherited), the same capacities and the same choices of what
to forget, over two dicts.

- Peers: source -> [RDlast ms, TSlast, wall_s]. The dict's order is the LRU order (every
  commit re-inserts its source; CPython dicts keep insertion order, MicroPython's do not,
  hence CPython only), so a full memory forgets its first key, as ReplayGuard forgets the
  least recently stamped slot.
- Nonces: (source, nonce) -> [seen ms, ring position], and a ring of
  capacity positions filled in time order, as ReplayGuard's nonce slots are.
tests/host/test_replay_dict.py runs the replay suite on this class and compares it with
ReplayGuard decision by decision.
"""

from .replay import REASON_REPLAY, ReplayGuard, _check_args, _ms_diff, _source_key, _stale
from ..errors import VerifyError


class DictReplayGuard(ReplayGuard):
    """ReplayGuard over dicts (see the module docstring); the same constructor and methods."""

    def _storage(self):
        self._peers = {}
        self._nonces = {}
        self._ring = [None] * self.nonce_capacity
        self._nnext = 0

    # -- introspection --

    def peer_count(self):
        return len(self._peers)

    def nonce_count(self, now_ms=None):
        if now_ms is None:
            return len(self._nonces)
        life = self._nonce_life_ms
        return sum(1 for e in self._nonces.values() if _ms_diff(now_ms, e[0]) < life)

    def peer(self, source):
        p = self._peers.get(_source_key(source))
        return None if p is None else (p[0], p[1], p[2])

    def forget(self, source):
        self._peers.pop(_source_key(source), None)

    # -- the checks --

    def _judge(self, skey, ts, nonce, now_ms, wall_s):
        """As ReplayGuard._judge; returns (the live peer's entry or None, the nonce's slot
        content or None, its expired copy's entry or None)."""
        _check_args(ts, now_ms, wall_s)
        slot = None
        old = None
        if nonce is not None:
            # The pair itself is the key: equal exactly when replay._nonce_slot's slot content
            # is (which stands for a long nonce by its SHA-1), and built without a copy.
            slot = (skey, bytes(nonce))
            old = self._nonces.get(slot)
            # A negative age (a clock that went back) still counts as live: fail closed.
            if old is not None and _ms_diff(now_ms, old[0]) < self._nonce_life_ms:
                raise VerifyError(REASON_REPLAY)
        p = self._peers.get(skey)
        if p is not None and _stale(p[0], p[2], now_ms, wall_s):
            p = None  # judged as new
        if p is None:
            self._timestamp_check(ts, now_ms, wall_s, 0, -1)
        else:
            self._timestamp_check(ts, now_ms, wall_s, p[0], p[1])
        return p, slot, old

    def _record(self, skey, ts, now_ms, wall_s, judged):
        p, slot, old = judged
        peers = self._peers
        # Out and back in: the end of the dict is the most recently used.
        stale = peers.pop(skey, None)
        if p is None:
            if stale is None and len(peers) >= self.capacity:
                del peers[next(iter(peers))]
            p = [now_ms, ts, wall_s]
        elif ts > p[1]:
            # RFC 3971 §5.3.4.2: update RDlast and TSlast only when TSnew > TSlast.
            p[0] = now_ms
            p[1] = ts
            p[2] = wall_s
        peers[skey] = p
        if slot is not None:
            nonces = self._nonces
            if old is not None:
                # Only an expired copy can still be here (a live one failed the check).
                del nonces[slot]
            n = self._nnext
            self._nnext = n + 1 if n + 1 < self.nonce_capacity else 0
            gone = self._ring[n]
            if gone is not None:
                e = nonces.get(gone)
                if e is not None and e[1] == n:
                    del nonces[gone]
            self._ring[n] = slot
            nonces[slot] = [now_ms, n]
