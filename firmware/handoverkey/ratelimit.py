"""Token buckets for the router's flood control: one global, one per source, bounded memory, integer time."""

from .errors import EncodeError

_MILLI = 1000  # tokens are kept in thousandths, so a rate in tokens per second adds rate per ms


def _refill(state, now_ms, rate, burst):
    """Add what has flowed in since state[1] to state[0] (thousandths), capped at the burst."""
    d = now_ms - state[1]
    if d > 0:
        state[1] = now_ms
        m = state[0] + d * rate
        cap = burst * _MILLI
        state[0] = m if m < cap else cap


def _take(state, now_ms, rate, burst):
    """Spend one token from state = [thousandths of a token, last refill ms] if there is one."""
    _refill(state, now_ms, rate, burst)
    if state[0] >= _MILLI:
        state[0] -= _MILLI
        return True
    return False


class TokenBucket:
    """`rate` tokens a second up to `burst`; take() spends one when there is one.

    Time is the caller's monotonic milliseconds; a clock that goes backwards adds nothing."""

    def __init__(self, rate, burst, now_ms=0):
        if type(rate) is not int or type(burst) is not int or rate < 0 or burst < 1:
            raise EncodeError("token bucket rate must be >= 0 and burst >= 1 (integers)")
        self.rate = rate
        self.burst = burst
        # [thousandths of a token, last refill ms]: the same state a source bucket keeps.
        self._state = [burst * _MILLI, now_ms]

    def available(self, now_ms):
        _refill(self._state, now_ms, self.rate, self.burst)
        return self._state[0] >= _MILLI

    def take(self, now_ms):
        return _take(self._state, now_ms, self.rate, self.burst)


class SourceBuckets:
    """A token bucket per source address, for at most `capacity` sources.

    When full, the source added longest ago is forgotten: it starts again with a full bucket,
    which gives an attacker nothing a fresh address would not, so which one goes matters only
    for cost. A ring of the sources in the order they were added makes that O(1): a flood of
    new addresses must not turn every RtSolPr into a scan of the table."""

    def __init__(self, rate, burst, capacity=64):
        if type(capacity) is not int or capacity < 1:
            raise EncodeError("capacity must be a positive integer")
        TokenBucket(rate, burst)  # the same checks of rate and burst as a bucket's
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
        self._buckets = {}  # source bytes -> [thousandths of a token, last refill ms]
        self._ring = [None] * capacity  # the sources in the order added; the next to go at _head
        self._head = 0

    def __len__(self):
        return len(self._buckets)

    def take(self, source, now_ms):
        key = bytes(source)
        b = self._buckets.get(key)
        if b is None:
            h = self._head
            if len(self._buckets) >= self.capacity:
                del self._buckets[self._ring[h]]
            # A TokenBucket's state; a new source starts full, less this one.
            self._buckets[key] = [(self.burst - 1) * _MILLI, now_ms]
            self._ring[h] = key
            self._head = h + 1 if h + 1 < self.capacity else 0
            return True
        return _take(b, now_ms, self.rate, self.burst)
