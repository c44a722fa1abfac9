"""Reference model of KeyTable (a dict and a recency list) for model-based tests on both interpreters."""


class ModelTable:
    """What KeyTable must do, written the obvious way: no slab, no index, linear scans.

    Expired entries stay stored until something frees them, exactly where KeyTable frees
    them (lookup of that address, expire(), remove(), or a put() into a full table), so
    len() can be compared exactly too."""

    def __init__(self, capacity):
        self.capacity = capacity
        self.entries = {}  # addr bytes -> [fp4, at, key, expiry seconds, pinned]
        self.order = []  # addresses, least recently used first (one order for both lists)

    def __len__(self):
        return len(self.entries)

    def _touch(self, a):
        self.order.remove(a)
        self.order.append(a)

    def _delete(self, a):
        del self.entries[a]
        self.order.remove(a)

    def lookup(self, a, now_ms):
        e = self.find(a, now_ms)
        if e is not None:
            self._touch(a)
        return e

    def find(self, a, now_ms):
        e = self.entries.get(a)
        if e is None:
            return None
        if now_ms // 1000 >= e[3]:
            self._delete(a)
            return None
        return e

    def peek(self, a, now_ms):
        e = self.entries.get(a)
        if e is None or now_ms // 1000 >= e[3]:
            return None
        return e

    def put(self, a, fp, at, key, expires_ms, now_ms):
        now_s = now_ms // 1000
        if a in self.entries:
            self.order.remove(a)
        elif len(self.entries) == self.capacity:
            for x in list(self.order):
                if now_s >= self.entries[x][3]:
                    self._delete(x)
            if len(self.entries) == self.capacity:
                victim = None
                for x in self.order:
                    if not self.entries[x][4]:
                        victim = x
                        break
                if victim is None:
                    victim = self.order[0]
                self._delete(victim)
        self.entries[a] = [bytes(fp[:4]), at, bytes(key), expires_ms // 1000, False]
        self.order.append(a)

    def remove(self, a):
        if a in self.entries:
            self._delete(a)
            return True
        return False

    def expire(self, now_ms):
        now_s = now_ms // 1000
        gone = [x for x in self.order if now_s >= self.entries[x][3]]
        for x in gone:
            self._delete(x)
        return len(gone)

    def pin(self, a):
        # Pinned or not, the entry becomes the most recently used pinned one.
        self.entries[a][4] = True
        self._touch(a)

    def unpin(self, a):
        e = self.entries[a]
        if e[4]:
            e[4] = False
            self._touch(a)

    def items(self, now_ms=None):
        """Same tuples and order as KeyTable.items()."""
        out = []
        for want_pinned in (False, True):
            for x in self.order:
                e = self.entries[x]
                if e[4] != want_pinned:
                    continue
                if now_ms is not None and now_ms // 1000 >= e[3]:
                    continue
                out.append((x, e[0], e[1], e[2], e[3] * 1000))
        return out


class Lcg:
    """A tiny deterministic generator that gives the same numbers on both interpreters."""

    def __init__(self, seed):
        self.x = seed & 0x7FFFFFFF

    def next(self):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return self.x >> 8

    def below(self, n):
        return self.next() % n

    def bytes(self, n):
        out = bytearray(n)
        for i in range(n):
            out[i] = self.next() & 0xFF
        return bytes(out)
