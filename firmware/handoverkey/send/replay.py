"""SEND timestamp window and (source, nonce) replay memory (RFC 3971 §5.3.4, interpretations §4)."""

import hashlib
import struct

from handoverkey._compat import const
from handoverkey.errors import DecodeError, EncodeError, VerifyError

# RFC 3971 §10.2 defaults.
TIMESTAMP_DELTA_S = const(300)
TIMESTAMP_FUZZ_S = const(1)
TIMESTAMP_DRIFT_PCT = const(1)

# The Timestamp option is 48.16 fixed point: 65536 units per second.
_TS_PER_S = const(65536)

# now_ms may be ticks_ms() (wrapping at 2^30) or an unbounded counter; differences are taken
# modulo 2^30, which is exact while the true difference is below 2^29 ms (about 6.2 days).
_TICKS_MASK = const(0x3FFFFFFF)
_TICKS_HALF = const(0x20000000)

# A peer entry older than this is ignored and the peer is judged as new again: it keeps
# millisecond differences far from the 2^29 aliasing limit above.
_PEER_MAX_AGE_S = const(86400)

_ADDR = const(16)
# Nonce slot: length marker (1) | nonce, or SHA-1 of a longer one (20, zero-padded) | source (16).
# The source goes last so that a search for a slot ends on varied octets: CPython's
# bytearray.find skips ahead on the pattern's last octet, and a pattern ending in the
# padding's zeros made it crawl through every free (zero) slot.
_NONCE_MAX = const(16)
_NSLOT = const(37)
_NVALUE = const(20)

REASON_TIMESTAMP = "timestamp"
REASON_REPLAY = "replay"


def _ms_diff(a, b):
    """Signed a - b for monotonic milliseconds, wrap-safe for ticks_ms() values."""
    return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def _find_slot(slab, used, key, width):
    """Index of the used slot of `width` octets whose content equals key, or -1."""
    i = slab.find(key)
    while i >= 0:
        if i % width == 0 and used[i // width]:
            return i // width
        i = slab.find(key, i + 1)
    return -1


class ReplayGuard:
    """Per-peer (RDlast, TSlast) and recently seen (source, nonce) pairs in preallocated slabs.

    All storage is allocated in the constructor and never grows, so a long-running node does
    not fragment its heap. check() never changes state; commit() re-checks and records, and is
    meant to be called only once the whole message (CGA, signature, ...) has passed.

    Slots are found by content with a scan of the slab (_find_slot), which needs no object per
    slot. CPython's router uses replay_dict.DictReplayGuard instead: the same rules over dicts,
    which CPython does in a fraction of the time (its bytearray.find crawls one octet at a time
    through zero-filled free slots whenever the pattern holds a zero, as addresses do)."""

    def __init__(
        self,
        capacity,
        nonce_capacity=None,
        delta_s=TIMESTAMP_DELTA_S,
        fuzz_s=TIMESTAMP_FUZZ_S,
        drift_pct=TIMESTAMP_DRIFT_PCT,
    ):
        if not isinstance(capacity, int) or capacity < 1:
            raise EncodeError("capacity must be a positive int")
        if nonce_capacity is None:
            # A peer usually has one solicitation in flight; twice the peers leaves room for retries.
            nonce_capacity = 2 * capacity
        if not isinstance(nonce_capacity, int) or nonce_capacity < 1:
            raise EncodeError("nonce_capacity must be a positive int")
        if delta_s < 1 or fuzz_s < 0 or drift_pct < 0 or drift_pct > 100:
            raise EncodeError("timestamp parameters out of range")
        self.capacity = capacity
        self.nonce_capacity = nonce_capacity
        self._delta = delta_s * _TS_PER_S
        self._fuzz2 = 2 * fuzz_s * _TS_PER_S
        self._keep = 100 - drift_pct
        # A replay passes the window checks for at most Delta past the sender's clock, and that
        # clock may run Delta ahead of ours: remembering a nonce for 2 * (Delta + fuzz) covers it.
        self._nonce_life_ms = 2000 * (delta_s + fuzz_s)
        self._storage()

    def _storage(self):
        """Allocate the slabs (DictReplayGuard keeps dicts instead)."""
        capacity = self.capacity
        nonce_capacity = self.nonce_capacity
        # Peers: source address, TSlast and wall-clock seconds as packed u64/s64 (big ints would
        # be heap objects on a 32-bit board), RDlast as ticks, and an LRU stamp (0 = free slot).
        self._pkey = bytearray(_ADDR * capacity)
        self._pts = bytearray(8 * capacity)
        self._pwall = bytearray(8 * capacity)
        self._prd = [0] * capacity
        self._puse = [0] * capacity
        self._stamp = 0
        # Slots from here on have never been used: a new peer takes the next one without a scan.
        self._pfresh = 0
        # Nonces: fixed slots filled as a ring. Nonces are recorded in time order, so the slot
        # after the last one written is free or the one remembered longest: the one to reuse.
        self._nkey = bytearray(_NSLOT * nonce_capacity)
        self._nseen = [0] * nonce_capacity
        self._nuse = bytearray(nonce_capacity)
        self._nnext = 0

    # -- introspection ------------------------------------------------------------------

    def peer_count(self):
        n = 0
        for s in self._puse:
            if s:
                n += 1
        return n

    def nonce_count(self, now_ms=None):
        """Occupied nonce slots; with now_ms, only those still inside the replay window."""
        n = 0
        for i in range(self.nonce_capacity):
            if self._nuse[i] and (now_ms is None or self._nonce_live(i, now_ms)):
                n += 1
        return n

    def peer(self, source):
        """(RDlast ms, TSlast, wall_s) stored for source, or None."""
        i = self._peer_slot(_source_key(source))
        if i < 0:
            return None
        return (self._prd[i], self._ts_at(i), self._wall_at(i))

    def forget(self, source):
        """Drop what is known about source (its nonces stay remembered until they expire)."""
        i = self._peer_slot(_source_key(source))
        if i >= 0:
            self._puse[i] = 0

    # -- internals ------------------------------------------------------------------------

    def _peer_slot(self, skey):
        return _find_slot(self._pkey, self._puse, skey, _ADDR)

    def _nonce_at(self, slot):
        return _find_slot(self._nkey, self._nuse, slot, _NSLOT)

    def _ts_at(self, i):
        return struct.unpack_from(">Q", self._pts, 8 * i)[0]

    def _wall_at(self, i):
        return struct.unpack_from(">q", self._pwall, 8 * i)[0]

    def _live_peer(self, skey, now_ms, wall_s):
        i = self._peer_slot(skey)
        if i < 0:
            return -1
        return -1 if _stale(self._prd[i], self._wall_at(i), now_ms, wall_s) else i

    def _nonce_live(self, i, now_ms):
        # A negative age (a clock that went back) still counts as live: fail closed.
        return _ms_diff(now_ms, self._nseen[i]) < self._nonce_life_ms

    def _store_peer(self, i, now_ms, ts, wall_s):
        self._prd[i] = now_ms
        struct.pack_into(">Q", self._pts, 8 * i, ts)
        struct.pack_into(">q", self._pwall, 8 * i, wall_s)

    # -- the checks -----------------------------------------------------------------------

    def check(self, source, ts, nonce, now_ms, wall_s):
        """Raise VerifyError("replay") or VerifyError("timestamp") unless the message may be accepted.

        source: 16-octet IPv6 source. ts: the Timestamp option value (48.16 fixed point, u64).
        nonce: the Nonce option value or None. now_ms: monotonic ms. wall_s: Unix seconds.
        Changes nothing."""
        self._judge(_source_key(source), ts, nonce, now_ms, wall_s)

    def _judge(self, skey, ts, nonce, now_ms, wall_s):
        """check() for a source key; returns what commit() needs next: (the live peer's slot
        or -1, the nonce's slot content or None, the slot of its expired copy or -1)."""
        _check_args(ts, now_ms, wall_s)
        slot = None
        n = -1
        if nonce is not None:
            slot = _nonce_slot(skey, nonce)
            n = self._nonce_at(slot)
            if n >= 0 and self._nonce_live(n, now_ms):
                raise VerifyError(REASON_REPLAY)
        i = self._live_peer(skey, now_ms, wall_s)
        if i < 0:
            self._timestamp_check(ts, now_ms, wall_s, 0, -1)
        else:
            self._timestamp_check(ts, now_ms, wall_s, self._prd[i], self._ts_at(i))
        return i, slot, n

    def _timestamp_check(self, ts, now_ms, wall_s, rd_last, ts_last):
        """RFC 3971 §5.3.4.2 for a new peer (ts_last < 0) or a known one; VerifyError or nothing."""
        if ts_last < 0:
            # New peer: -Delta < RDnew - TSnew < +Delta.
            diff = wall_s * _TS_PER_S - ts
            if diff <= -self._delta or diff >= self._delta:
                raise VerifyError(REASON_TIMESTAMP)
            return
        # Known peer: TSnew + fuzz > TSlast + (RDnew - RDlast) * (1 - drift) - fuzz, with the
        # elapsed time in ms turned into 1/65536 s and the percentage cleared of its division:
        # 100000 * (TSnew - TSlast + 2 fuzz) > elapsed_ms * 65536 * (100 - drift%).
        elapsed = _ms_diff(now_ms, rd_last)
        if 100000 * (ts - ts_last + self._fuzz2) <= elapsed * _TS_PER_S * self._keep:
            raise VerifyError(REASON_TIMESTAMP)

    def commit(self, source, ts, nonce, now_ms, wall_s):
        """Check again, then record the accepted message; raises like check() and then changes nothing."""
        skey = _source_key(source)
        self._record(skey, ts, now_ms, wall_s, self._judge(skey, ts, nonce, now_ms, wall_s))

    def _record(self, skey, ts, now_ms, wall_s, judged):
        """commit() after _judge: `judged` is what _judge returned for these very arguments,
        with nothing recorded in between (router_fast_rtsolpr.py judges before its RSA check
        and records after it, within one message)."""
        i, slot, n = judged
        self._stamp += 1
        if i < 0:
            # A stale entry for this source is reused; otherwise a free slot, otherwise the LRU one.
            i = self._peer_slot(skey)
            if i < 0:
                i = self._pfresh
                if i < self.capacity:
                    self._pfresh = i + 1
                else:
                    # Full: a slot freed by forget(), else the least recently used peer.
                    use = self._puse
                    i = 0
                    j = 1
                    while j < self.capacity and use[i]:
                        if use[j] < use[i]:
                            i = j
                        j += 1
                self._pkey[_ADDR * i : _ADDR * (i + 1)] = skey
            self._store_peer(i, now_ms, ts, wall_s)
        elif ts > self._ts_at(i):
            # RFC 3971 §5.3.4.2: update RDlast and TSlast only when TSnew > TSlast.
            self._store_peer(i, now_ms, ts, wall_s)
        self._puse[i] = self._stamp
        if slot is not None:
            # Only an expired copy can still be here (a live one failed the check): it is freed,
            # so that a lookup never finds it ahead of the copy written now.
            if n >= 0:
                self._nuse[n] = 0
            n = self._nnext
            self._nnext = n + 1 if n + 1 < self.nonce_capacity else 0
            self._nkey[_NSLOT * n : _NSLOT * (n + 1)] = slot
            self._nseen[n] = now_ms
            self._nuse[n] = 1


def _stale(rd_last, wall_last, now_ms, wall_s):
    """True when a peer entry is too old, or from a clock gone back, to judge by (then the peer
    is judged as new)."""
    age_ms = _ms_diff(now_ms, rd_last)
    age_s = wall_s - wall_last
    return age_ms < 0 or age_ms > _PEER_MAX_AGE_S * 1000 or age_s > _PEER_MAX_AGE_S or age_s < -_PEER_MAX_AGE_S


def _check_args(ts, now_ms, wall_s):
    # Caller contract: the decoded u64 and integer clocks (time.time() is a float on MicroPython).
    if type(ts) is not int or ts < 0 or ts > 0xFFFFFFFFFFFFFFFF:
        raise EncodeError("timestamp must be a u64 int")
    if type(now_ms) is not int or type(wall_s) is not int or wall_s < 0 or wall_s >= 1 << 62:
        raise EncodeError("now_ms and wall_s must be ints, wall_s in Unix seconds")


def _source_key(source):
    if len(source) != _ADDR:
        raise DecodeError("source address length")
    return bytes(source)


def _nonce_slot(skey, nonce):
    """The fixed-size slot content for (source, nonce), as bytes (also DictReplayGuard's key)."""
    slot = bytearray(_NSLOT)
    n = len(nonce)
    if n <= _NONCE_MAX:
        # The length octet keeps a short nonce apart from the digest of a long one, and the
        # zero padding after a short nonce apart from a longer nonce ending in zeros.
        slot[0] = n
        slot[1 : 1 + n] = nonce
    else:
        slot[0] = 0xFF
        slot[1 : 1 + _NVALUE] = hashlib.sha1(nonce).digest()
    slot[1 + _NVALUE : _NSLOT] = skey
    return bytes(slot)
