"""Mobile node handover key store: a few keys, each named by (router, PCoA) and reachable from every address of its router.

A mobile node holds one handover key per access router it got one from, and uses it for
FBUs to that router from the care-of CGA the key was issued to (RFC 5269 §3.3/§3.4). A
router is known by several addresses: the PrRtAdv source (a link-local CGA) and its global
address (interpretations §5); an FBU to any of them uses the same key. The store is tiny
(default 8 entries) and not on a per-packet path, so entries are small objects in a
preallocated list rather than a slab. When full, put() drops an expired entry if it was
given the time, otherwise the oldest put.

Times are caller-supplied monotonic milliseconds; a key is usable while now_ms < expires_ms.
"""

from .algorithms import is_supported, key_len
from .errors import EncodeError

DEFAULT_CAPACITY = 8
MAX_ROUTER_ADDRS = 4  # PrRtAdv source, global address, and room for a renumbering


class MobileKey:
    """One stored key; treat it as read-only. `routers` is a tuple of 16-octet bytes."""

    def __init__(self, routers, pcoa, at, key, expires_ms, seq):
        self.routers = routers
        self.pcoa = pcoa
        self.at = at
        self.key = key
        self.expires_ms = expires_ms
        self.seq = seq  # put order: smaller is older

    def serves(self, router_addr):
        """True when `router_addr` is one of this key's router addresses."""
        for r in self.routers:
            if r == router_addr:
                return True
        return False


def _addr(a, what):
    if len(a) != 16:
        raise EncodeError(what + " length")
    return bytes(a)


class MobileKeyStore:
    """Bounded store of the mobile node's handover keys, evicting the oldest when full."""

    def __init__(self, capacity=DEFAULT_CAPACITY):
        if type(capacity) is not int or capacity < 1 or capacity > 255:
            raise EncodeError("capacity out of range")
        self.capacity = capacity
        self._slots = [None] * capacity
        self._seq = 0

    def __len__(self):
        """Entries held, including expired ones not yet freed."""
        n = 0
        for e in self._slots:
            if e is not None:
                n += 1
        return n

    def put(self, router_addrs, pcoa, at, key, expires_ms, now_ms=None):
        """Store a key for (router, PCoA) reachable through every address in `router_addrs`.

        Replaces every entry for the same PCoA that shares a router address (the newer reply
        from that router wins). Returns the new MobileKey."""
        routers = []
        for r in router_addrs:
            r = _addr(r, "router address")
            if r not in routers:
                routers.append(r)
        if not routers or len(routers) > MAX_ROUTER_ADDRS:
            raise EncodeError("need 1 to 4 router addresses")
        pcoa = _addr(pcoa, "PCoA")
        if not is_supported(at):
            raise EncodeError("AT not in the registry")
        if len(key) != key_len(at):
            raise EncodeError("key length for AT")
        if type(expires_ms) is not int:
            raise EncodeError("expiry not int ms")
        slots = self._slots
        free = -1
        for i in range(self.capacity):
            e = slots[i]
            if e is not None and e.pcoa == pcoa:
                for r in routers:
                    if e.serves(r):
                        slots[i] = None
                        break
            if slots[i] is None and free < 0:
                free = i
        if free < 0:
            free = self._victim(now_ms)
        self._seq += 1
        entry = MobileKey(tuple(routers), pcoa, at, bytes(key), expires_ms, self._seq)
        slots[free] = entry
        return entry

    def _victim(self, now_ms):
        # An expired entry when the time is known, else the oldest put.
        slots = self._slots
        oldest = 0
        for i in range(self.capacity):
            e = slots[i]
            if now_ms is not None and now_ms >= e.expires_ms:
                return i
            if e.seq < slots[oldest].seq:
                oldest = i
        return oldest

    def find(self, router_addr, pcoa, now_ms):
        """The live key for FBUs to `router_addr` from `pcoa`, or None; an expired match is dropped."""
        slots = self._slots
        for i in range(self.capacity):
            e = slots[i]
            if e is not None and e.pcoa == pcoa and e.serves(router_addr):
                if now_ms >= e.expires_ms:
                    slots[i] = None
                    return None
                return e
        return None

    def remove(self, router_addr, pcoa):
        """Drop the key for (router_addr, pcoa); True if there was one."""
        slots = self._slots
        for i in range(self.capacity):
            e = slots[i]
            if e is not None and e.pcoa == pcoa and e.serves(router_addr):
                slots[i] = None
                return True
        return False

    def expire(self, now_ms):
        """Drop every key at or past its expiry; the number dropped."""
        n = 0
        slots = self._slots
        for i in range(self.capacity):
            e = slots[i]
            if e is not None and now_ms >= e.expires_ms:
                slots[i] = None
                n += 1
        return n

    def items(self):
        """The stored MobileKey objects, oldest put first (a new list)."""
        out = [e for e in self._slots if e is not None]
        out.sort(key=lambda e: e.seq)
        return out
