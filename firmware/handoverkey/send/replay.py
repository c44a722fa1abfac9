"""SEND timestamp window and (source, nonce) replay memory (RFC 3971 §5.3.4, interpretations §4)."""

import hashlib
from collections import OrderedDict

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

# A peer entry older than this is forgotten and the peer is judged as new again: it keeps
# millisecond differences far from the 2^29 aliasing limit above.
_PEER_MAX_AGE_S = const(86400)

# Nonces longer than this are remembered by their SHA-1, which bounds every entry's size.
_NONCE_KEY_MAX = const(16)

REASON_TIMESTAMP = "timestamp"
REASON_REPLAY = "replay"


def _ms_diff(a, b):
    """Signed a - b for monotonic milliseconds, wrap-safe for ticks_ms() values."""
    return ((a - b + _TICKS_HALF) & _TICKS_MASK) - _TICKS_HALF


def _source_key(source):
    if len(source) != 16:
        raise DecodeError("source address length")
    return bytes(source)


def _nonce_key(skey, nonce):
    n = len(nonce)
    if n <= _NONCE_KEY_MAX:
        # The length octet keeps a short nonce apart from the digest of a long one.
        return skey + bytes((n,)) + bytes(nonce)
    return skey + b"\xff" + hashlib.sha1(nonce).digest()


class ReplayGuard:
    """Per-peer (RDlast, TSlast) and recently seen (source, nonce) pairs, both strictly capped.

    check() never changes state; commit() re-checks and records, and is meant to be called
    only once the whole message (CGA, signature, everything else) has passed."""

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
        self._peers = OrderedDict()  # source -> [rd_ms, ts, wall_s]
        self._nonces = OrderedDict()  # source | nonce -> first seen, now_ms

    def peer_count(self):
        return len(self._peers)

    def nonce_count(self):
        return len(self._nonces)

    def _live_peer(self, skey, now_ms, wall_s):
        entry = self._peers.get(skey)
        if entry is None:
            return None
        age_ms = _ms_diff(now_ms, entry[0])
        age_s = wall_s - entry[2]
        if age_ms < 0 or age_ms > _PEER_MAX_AGE_S * 1000 or age_s > _PEER_MAX_AGE_S or age_s < -_PEER_MAX_AGE_S:
            return None
        return entry

    def _seen(self, nkey, now_ms):
        first = self._nonces.get(nkey)
        # A negative age (a clock that went back) still counts as seen: fail closed.
        return first is not None and _ms_diff(now_ms, first) < self._nonce_life_ms

    def check(self, source, ts, nonce, now_ms, wall_s):
        """Raise VerifyError("replay") or VerifyError("timestamp") unless the message may be accepted.

        source: 16-octet IPv6 source. ts: the Timestamp option value (48.16 fixed point).
        nonce: the Nonce option value or None. Changes nothing."""
        skey = _source_key(source)
        if nonce is not None and self._seen(_nonce_key(skey, nonce), now_ms):
            raise VerifyError(REASON_REPLAY)
        entry = self._live_peer(skey, now_ms, wall_s)
        if entry is None:
            # New peer: -Delta < RDnew - TSnew < +Delta.
            diff = wall_s * _TS_PER_S - ts
            if diff <= -self._delta or diff >= self._delta:
                raise VerifyError(REASON_TIMESTAMP)
            return
        # Known peer: TSnew + fuzz > TSlast + (RDnew - RDlast) * (1 - drift) - fuzz, with the
        # elapsed time in ms turned into 1/65536 s and the percentage cleared of its division:
        # 100000 * (TSnew - TSlast + 2 fuzz) > elapsed_ms * 65536 * (100 - drift%).
        elapsed = _ms_diff(now_ms, entry[0])
        if 100000 * (ts - entry[1] + self._fuzz2) <= elapsed * _TS_PER_S * self._keep:
            raise VerifyError(REASON_TIMESTAMP)

    def commit(self, source, ts, nonce, now_ms, wall_s):
        """Check again, then record the accepted message; raises like check() and then changes nothing."""
        self.check(source, ts, nonce, now_ms, wall_s)
        skey = _source_key(source)
        peers = self._peers
        entry = self._live_peer(skey, now_ms, wall_s)
        if entry is None:
            if skey in peers:
                peers.pop(skey)
            while len(peers) >= self.capacity:
                peers.pop(next(iter(peers)))
            peers[skey] = [now_ms, ts, wall_s]
        else:
            # Pop and re-insert marks it most recent (MicroPython's OrderedDict has no move_to_end).
            peers.pop(skey)
            peers[skey] = entry
            # RFC 3971 §5.3.4.2: update RDlast and TSlast only when TSnew > TSlast.
            if ts > entry[1]:
                entry[0] = now_ms
                entry[1] = ts
                entry[2] = wall_s
        if nonce is not None:
            nonces = self._nonces
            nkey = _nonce_key(skey, nonce)
            if nkey in nonces:
                nonces.pop(nkey)
            # Entries go in at increasing now_ms, so expired ones gather at the front.
            while nonces:
                oldest = next(iter(nonces))
                if _ms_diff(now_ms, nonces[oldest]) < self._nonce_life_ms:
                    break
                nonces.pop(oldest)
            while len(nonces) >= self.nonce_capacity:
                nonces.pop(next(iter(nonces)))
            nonces[nkey] = now_ms
