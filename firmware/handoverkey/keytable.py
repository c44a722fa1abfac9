"""Router handover key table: bounded, LRU eviction and expiry on a preallocated slab, O(1) lookup by address.

Layout for capacity N (all buffers allocated once in the constructor, never resized):

    _slab  bytearray, N records of 53 octets          53 N
             0..15   key address (the MN's care-of CGA, the RtSolPr source / FBU Home Address)
            16..47   handover key, left-aligned; key_len(AT) octets used, the rest kept zero
            48..51   fingerprint: first 4 octets of the SEND Key Hash of the CGA public key
            52       AT in bits 0-3, the pinned flag in bit 4
    _prev  array('H') N   LRU links (u16, 0xFFFF = none)    2 N
    _next  array('H') N   LRU links; also chains free slots  2 N
    _exp   array('I') N   expiry, u32 seconds (0 = slot free) 4 N
    _idx   array('H') M   open-addressing index, M = N + N//2: 0 = empty, else slot + 1   2 M
                                                            ------
                                                            61 N + 2 M  <= 64 N

So a table holds 64 octets per entry or fewer (63 for odd N): table_bytes() is the exact sum,
bytes_per_entry() rounds it up. Python object headers (a few hundred octets per table) are not
counted, nor are the CPython-only attachment list (attach()) and address -> slot dict (both
absent from portable tables).
Capacity is 1..65535, because slots and links are u16.

Why the numeric fields sit in arrays next to the slab rather than inside it: reading a u16 out
of a bytearray costs two subscripts and a shift; an array('H') costs one subscript. On CPython
that halves the LRU bookkeeping of a hit, and the octets per entry are the same.

Lookup. The index is hashed on the address and probed linearly; deletion shifts later
entries back (no tombstones), so probe chains never grow with churn. The home position is
  - on MicroPython (and with portable=True): a 20-bit multiply-xorshift mix of the four 16-bit
    words of the interface identifier (octets 8-15; for a CGA these are hash output, and
    mixing all four spreads non-CGA addresses too), keyed with a random per-table salt so a
    peer cannot aim addresses at one chain. Every intermediate stays below 2**30, a small int
    on 32-bit boards. Octets 0-7 are not hashed: addresses that differ only there share a
    home position and are separated by probing (correct, just slower).
  - on CPython: hash() of the 16 octets (SipHash, keyed per process), for speed. CPython
    lookups (find, lookup, peek, put) go through a dict from address to slot kept beside the
    index: one probe in C instead of a loop of bytecode. The index stays the authority for
    deletion, so both interpreters run the same index code.
A live lookup allocates nothing on MicroPython: no slices, no tuples, no bound-method objects.
find() is the lookup for a message not yet verified: it leaves the LRU order alone, so a
forged FBU cannot change which key is evicted next; lookup() also makes the entry the most
recently used, and pin() makes it the most recently used pinned one.

Expiry. Times are monotonic milliseconds passed in by the caller (never a clock read here),
non-negative and not wrapping. Expiry is stored as whole seconds, E = expires_ms // 1000, and
an entry is live while now_ms // 1000 < E, i.e. while now_ms < expiry_ms(slot) = 1000 E. A
key therefore expires up to 999 ms early and never late. Expired entries count as absent
everywhere; lookup() frees one when it meets it, expire() frees all, and put() on a full
table frees all before evicting anything live. A lower bound on the earliest expiry makes
that sweep run at most once per second of time, so put() is O(1) amortised.

LRU and pinning (the hook for flood control). Entries sit on one of two doubly linked LRU
lists: unpinned and pinned. put() and lookup() make an entry the most recent on its list;
peek() does not. A full table evicts the least recently used unpinned entry, and a pinned one
only when every entry is pinned. pin() protects against eviction only: a pinned entry still
expires, and remove() or a replacing put() (which clears the pin) still drop it.

Slots. A slot number is valid until the next call that can free or move entries (put,
lookup, remove, expire); read key(slot) and friends straight after the lookup that gave it.

Errors: caller misuse (address not 16 octets, unregistered AT, key length not that of the AT,
fingerprint shorter than 4 octets, expiry not in the future, bad capacity or slot) raises
EncodeError. A full table never raises.
"""

from array import array

from ._compat import IS_MICROPYTHON, const
from .algorithms import is_supported, key_len
from .errors import EncodeError

_ADDR = const(0)
_KEY = const(16)
_FP = const(48)
_ATF = const(52)
_REC = const(53)  # octets per slab record

ADDR_LEN = 16
FP_LEN = 4  # fingerprint octets kept; a caller may pass the whole 16-octet Key Hash
KEY_MAX = 32

_AT_MASK = const(0x0F)
_PINNED = const(0x10)
_NIL = const(0xFFFF)
_MAX_CAPACITY = const(65535)  # slot + 1 must fit a u16 index cell, and no slot may equal _NIL
_MAX_EXP_S = 0xFFFFFFFF  # not const: above 2**30 it is not a small int on a 32-bit board
_MUL = const(0x3A5)  # odd, < 2**10: a 20-bit state times it stays below 2**30
_ZERO_KEY = b"\x00" * KEY_MAX
_OCTETS = (bytes, bytearray, memoryview)  # what put() copies into the slab

# Bytes per array item, as laid out above (array('H') / array('I') on both interpreters).
_U16 = const(2)
_U32 = const(4)


class KeyTable:
    """A bounded table of handover keys indexed by a 16-octet address; see the module docstring."""

    def __init__(self, capacity, salt=None, portable=None):
        """`salt` (an int) fixes the MicroPython hash key, for reproducible tests; by default it
        is random. `portable=True` forces the allocation-free code path that MicroPython always
        uses, so CPython tests can exercise it; by default CPython uses slices and hash()."""
        if type(capacity) is not int or capacity < 1 or capacity > _MAX_CAPACITY:
            raise EncodeError("capacity out of range")
        self.capacity = capacity
        m = capacity + (capacity >> 1)
        self._m = m
        self._slab = bytearray(capacity * _REC)
        self._mv = memoryview(self._slab)
        self._prev = array("H", bytes(capacity * _U16))
        self._next = array("H", bytes(capacity * _U16))
        self._exp = array("I", bytes(capacity * _U32))
        self._idx = array("H", bytes(m * _U16))
        # Heads and tails of the two LRU lists: [unpinned head, unpinned tail, pinned head, pinned tail].
        # Heads are the most recently used.
        self._ends = array("H", [_NIL, _NIL, _NIL, _NIL])
        self._free = _NIL  # head of the chain of freed slots (linked through _next)
        self._hw = 0  # slots at or above this were never used, so need no free-chain entry
        self._n = 0
        self._min_exp = _MAX_EXP_S  # lower bound of the earliest live expiry, in seconds
        if portable is None:
            portable = IS_MICROPYTHON
        self._fast = not portable
        # CPython only: one object per slot that the owner derives from the slot's key (the
        # router keeps a pre-keyed HMAC there); put() and every way of freeing a slot clear it.
        self._att = None if portable else [None] * capacity
        # CPython only: address -> slot, beside the index cells (which stay the authority for
        # probing and deletion), so a lookup is one dict probe instead of a bytecode loop.
        self._where = None if portable else {}
        if salt is None:
            import os

            r = os.urandom(3)
            salt = (r[0] << 16) | (r[1] << 8) | r[2]
        self._salt = salt & 0xFFFFF
        # Key length by AT (0 where unassigned), so key() needs no registry call.
        self._klen = bytes([key_len(a) if is_supported(a) else 0 for a in range(16)])

    # ---- size -------------------------------------------------------------------------

    def table_bytes(self):
        """Exact octets in the preallocated buffers (slab, links, expiry, index)."""
        return len(self._slab) + (len(self._prev) + len(self._next) + len(self._idx)) * _U16 + len(self._exp) * _U32

    def bytes_per_entry(self):
        """table_bytes() / capacity, rounded up."""
        c = self.capacity
        return (self.table_bytes() + c - 1) // c

    def __len__(self):
        """Entries held, including expired ones not yet freed: call expire(now_ms) first for
        an exact count of live entries."""
        return self._n

    # ---- hashing and the index ----------------------------------------------------------

    def _home(self, b, o):
        # Home index position of the address at b[o:o+16].
        if self._fast:
            if o == 0 and len(b) == ADDR_LEN:
                return hash(bytes(b)) % self._m
            return hash(bytes(b[o : o + ADDR_LEN])) % self._m
        x = self._salt
        x = ((x ^ ((b[o + 8] << 8) | b[o + 9])) * _MUL) & 0xFFFFF
        x ^= x >> 9
        x = ((x ^ ((b[o + 10] << 8) | b[o + 11])) * _MUL) & 0xFFFFF
        x ^= x >> 9
        x = ((x ^ ((b[o + 12] << 8) | b[o + 13])) * _MUL) & 0xFFFFF
        x ^= x >> 9
        x = ((x ^ ((b[o + 14] << 8) | b[o + 15])) * _MUL) & 0xFFFFF
        x ^= x >> 9
        return x % self._m

    def _pos(self, a):
        # Index position holding address a, or -1. Probing stops at an empty cell, or after
        # M cells (only reachable when N = 1 and M = 1, the one geometry with no empty cell).
        m = self._m
        idx = self._idx
        i = self._home(a, 0)
        n = m
        if self._fast:
            slab = self._slab
            while n:
                v = idx[i]
                if v == 0:
                    return -1
                o = (v - 1) * _REC
                if slab[o : o + ADDR_LEN] == a:
                    return i
                i += 1
                if i == m:
                    i = 0
                n -= 1
            return -1
        slab = self._slab
        while n:
            v = idx[i]
            if v == 0:
                return -1
            o = (v - 1) * _REC
            # Compare from the last octet: the interface identifier differs first.
            k = 15
            while k >= 0 and slab[o + k] == a[k]:
                k -= 1
            if k < 0:
                return i
            i += 1
            if i == m:
                i = 0
            n -= 1
        return -1

    def _index(self, s, a):
        # Enter slot s, whose address a (bytes on CPython) is already in the slab, at the first
        # empty cell from its home. Callers keep at least one cell empty: fewer entries than
        # cells, or N = M = 1 and empty.
        m = self._m
        idx = self._idx
        i = self._home(a, 0)
        while idx[i]:
            i += 1
            if i == m:
                i = 0
        idx[i] = s + 1
        if self._where is not None:
            self._where[a] = s

    def _unindex(self, i):
        # Empty cell i and shift back every later entry of the run that may now sit closer to
        # its home (linear-probing deletion, so no tombstones are needed).
        m = self._m
        idx = self._idx
        slab = self._slab
        j = i
        while True:
            j += 1
            if j == m:
                j = 0
            if j == i:
                break
            v = idx[j]
            if v == 0:
                break
            k = self._home(slab, (v - 1) * _REC)
            # The entry at j stays if its home lies cyclically in (i, j]; otherwise it moves to i.
            if i < j:
                stays = i < k <= j
            else:
                stays = k > i or k <= j
            if not stays:
                idx[i] = v
                i = j
        idx[i] = 0

    # ---- LRU lists ---------------------------------------------------------------------

    def _unlink(self, s):
        e = self._ends
        lst = 2 if self._slab[s * _REC + _ATF] & _PINNED else 0
        p = self._prev[s]
        n = self._next[s]
        if p == _NIL:
            e[lst] = n
        else:
            self._next[p] = n
        if n == _NIL:
            e[lst + 1] = p
        else:
            self._prev[n] = p

    def _link_front(self, s):
        e = self._ends
        lst = 2 if self._slab[s * _REC + _ATF] & _PINNED else 0
        h = e[lst]
        self._prev[s] = _NIL
        self._next[s] = h
        if h == _NIL:
            e[lst + 1] = s
        else:
            self._prev[h] = s
        e[lst] = s

    def _touch(self, s):
        # Make s the most recently used entry of its list.
        lst = 2 if self._slab[s * _REC + _ATF] & _PINNED else 0
        if self._ends[lst] != s:
            self._unlink(s)
            self._link_front(s)

    # ---- freeing -------------------------------------------------------------------------

    def _drop(self, i, s):
        # Free slot s, found at index cell i. The key octets are zeroed so freed key material
        # does not linger in RAM.
        self._unindex(i)
        self._unlink(s)
        o = s * _REC
        if self._where is not None:
            del self._where[bytes(self._slab[o : o + ADDR_LEN])]
        self._mv[o + _KEY : o + _FP] = _ZERO_KEY
        if self._att is not None:
            self._att[s] = None
        self._slab[o + _ATF] = 0
        self._exp[s] = 0
        self._next[s] = self._free
        self._free = s
        self._n -= 1

    def _drop_slot(self, s):
        self._drop(self._pos(self._mv[s * _REC : s * _REC + ADDR_LEN]), s)

    def _sweep(self, now_s):
        # Free every expired entry on both lists; recompute the earliest-expiry bound exactly.
        exp = self._exp
        nxt = self._next
        count = 0
        low = _MAX_EXP_S
        for lst in (0, 2):
            s = self._ends[lst]
            while s != _NIL:
                after = nxt[s]
                e = exp[s]
                if now_s >= e:
                    self._drop_slot(s)
                    count += 1
                elif e < low:
                    low = e
                s = after
        self._min_exp = low
        return count

    def _alloc(self, now_s):
        # A free slot, freeing expired entries and then evicting the least recently used
        # (unpinned before pinned) when the table is full.
        if self._free == _NIL and self._hw == self.capacity and now_s >= self._min_exp:
            self._sweep(now_s)
        s = self._free
        if s != _NIL:
            self._free = self._next[s]
            return s
        if self._hw < self.capacity:
            s = self._hw
            self._hw = s + 1
            return s
        s = self._ends[1]
        if s == _NIL:
            s = self._ends[3]
        self._drop_slot(s)
        self._free = self._next[s]
        return s

    # ---- checks ----------------------------------------------------------------------------

    def _check_slot(self, slot):
        if type(slot) is not int or slot < 0 or slot >= self.capacity or self._exp[slot] == 0:
            raise EncodeError("not a slot in use")

    # ---- public API -------------------------------------------------------------------

    def lookup(self, addr, now_ms):
        """Slot of the live entry for `addr`, made most recently used; -1 if absent or expired
        (an expired entry is freed). Allocates nothing on MicroPython."""
        s = self.find(addr, now_ms)
        if s >= 0:
            self._touch(s)
        return s

    def find(self, addr, now_ms):
        """Like lookup() but the entry keeps its LRU place: for a message still to be checked
        (a check that fails must not change the table). An expired entry is freed."""
        if len(addr) != ADDR_LEN:
            raise EncodeError("address length")
        if self._fast:
            s = self._where.get(addr if type(addr) is bytes else bytes(addr), -1)
            if s < 0:
                return -1
            if now_ms // 1000 >= self._exp[s]:
                self._drop_slot(s)
                return -1
            return s
        i = self._pos(addr)
        if i < 0:
            return -1
        s = self._idx[i] - 1
        if now_ms // 1000 >= self._exp[s]:
            self._drop(i, s)
            return -1
        return s

    def peek(self, addr, now_ms):
        """Like lookup() but read-only: no LRU change, and an expired entry is left in place
        (reported as -1)."""
        if len(addr) != ADDR_LEN:
            raise EncodeError("address length")
        if self._fast:
            s = self._where.get(addr if type(addr) is bytes else bytes(addr), -1)
        else:
            i = self._pos(addr)
            s = -1 if i < 0 else self._idx[i] - 1
        if s < 0 or now_ms // 1000 >= self._exp[s]:
            return -1
        return s

    def key(self, slot):
        """The handover key of a slot: a memoryview into the slab (key_len(AT) octets), valid
        while the slot is (do not keep it across put/lookup/remove/expire)."""
        self._check_slot(slot)
        o = slot * _REC + _KEY
        return self._mv[o : o + self._klen[self._slab[slot * _REC + _ATF] & _AT_MASK]]

    def attachment(self, slot):
        """What attach() left on a slot in use, or None. Cleared whenever the slot's key is
        replaced or the slot is freed, so it may hold state derived from the key. Always None
        on a portable table (MicroPython), which keeps no attachments."""
        att = self._att
        return None if att is None else att[slot]

    def attach(self, slot, obj):
        """Keep obj with a slot in use until its key changes (no-op on a portable table)."""
        self._check_slot(slot)
        if self._att is not None:
            self._att[slot] = obj

    def at(self, slot):
        """The AT recorded with the key (the negotiated algorithm)."""
        self._check_slot(slot)
        return self._slab[slot * _REC + _ATF] & _AT_MASK

    def address(self, slot):
        """The 16-octet address of a slot, as new bytes."""
        self._check_slot(slot)
        o = slot * _REC
        return bytes(self._mv[o : o + ADDR_LEN])

    def fingerprint_matches(self, slot, fp):
        """True when the first 4 octets of `fp` (a SEND Key Hash, or its first octets) equal
        the stored fingerprint: the same CGA public key as when the key was made."""
        self._check_slot(slot)
        if len(fp) < FP_LEN:
            raise EncodeError("fingerprint too short")
        o = slot * _REC + _FP
        s = self._slab
        return s[o] == fp[0] and s[o + 1] == fp[1] and s[o + 2] == fp[2] and s[o + 3] == fp[3]

    def expiry_ms(self, slot):
        """Expiry of the slot's key in milliseconds: whole seconds, at or before the requested time."""
        self._check_slot(slot)
        return self._exp[slot] * 1000

    def put(self, addr, fp, at, key, expires_ms, now_ms):
        """Store `key` for `addr` and return its slot, most recently used and unpinned.

        Replaces any entry for `addr`. On a full table frees expired entries first, then evicts
        the least recently used unpinned entry, then (all pinned) the least recently used
        pinned one; it never raises for lack of room. `fp` is the SEND Key Hash of the CGA
        public key, or at least its first 4 octets; `at` must be registered and `key` exactly
        key_len(at) octets; the entry is live while now_ms < expires_ms, seconds-truncated."""
        if not (isinstance(addr, _OCTETS) and isinstance(fp, _OCTETS) and isinstance(key, _OCTETS)):
            # Checked first: the copies below come after the slot is taken.
            raise EncodeError("address, fingerprint and key must be bytes-like")
        if len(addr) != ADDR_LEN:
            raise EncodeError("address length")
        if len(fp) < FP_LEN:
            raise EncodeError("fingerprint too short")
        # self._klen: key length by AT, 0 for an AT not in the registry (see __init__).
        klen = self._klen[at] if type(at) is int and 0 <= at < 16 else 0
        if not klen:
            raise EncodeError("AT not in the registry")
        if len(key) != klen:
            raise EncodeError("key length for AT")
        if type(expires_ms) is not int or type(now_ms) is not int or now_ms < 0:
            raise EncodeError("times must be integer ms")
        now_s = now_ms // 1000
        exp_s = expires_ms // 1000
        if exp_s <= now_s:
            raise EncodeError("expiry not in the future")
        if exp_s > _MAX_EXP_S:
            raise EncodeError("expiry past u32 s")
        if self._fast:
            addr = addr if type(addr) is bytes else bytes(addr)
            s = self._where.get(addr, -1)
        else:
            i = self._pos(addr)
            s = -1 if i < 0 else self._idx[i] - 1
        new = s < 0
        if new:
            s = self._alloc(now_s)
            self._n += 1
        else:
            self._unlink(s)
        o = s * _REC
        if self._att is not None:
            self._att[s] = None
        mv = self._mv
        mv[o + _ADDR : o + _ADDR + ADDR_LEN] = addr
        mv[o + _KEY : o + _KEY + klen] = key
        if klen < KEY_MAX:
            mv[o + _KEY + klen : o + _FP] = _ZERO_KEY[klen:]
        slab = self._slab
        if self._fast:
            mv[o + _FP : o + _FP + FP_LEN] = fp[:FP_LEN]
        else:
            for k in range(FP_LEN):  # no slice: nothing allocated on MicroPython
                slab[o + _FP + k] = fp[k]
        slab[o + _ATF] = at  # flags cleared: a replacing put drops the pin
        self._exp[s] = exp_s
        if new:
            self._index(s, addr)
        self._link_front(s)
        if exp_s < self._min_exp:
            self._min_exp = exp_s
        return s

    def eviction_candidate(self, now_ms):
        """The slot put() would evict to make room for a new address, or -1 when there is room
        (a never-used or freed slot, or an expired entry, which this frees). Lets the owner
        decide whether a newcomer may displace that entry (the router's flood control)."""
        if self._n < self.capacity:
            return -1
        # Sweep only once something may have expired (as _alloc does): on a full table every
        # newcomer asks, and a sweep walks every entry.
        now_s = now_ms // 1000
        if now_s >= self._min_exp:
            self._sweep(now_s)
            if self._n < self.capacity:
                return -1
        e = self._ends
        return e[1] if e[1] != _NIL else e[3]

    def remove(self, addr):
        """Drop the entry for `addr`, live or expired; True if there was one."""
        if len(addr) != ADDR_LEN:
            raise EncodeError("address length")
        i = self._pos(addr)
        if i < 0:
            return False
        self._drop(i, self._idx[i] - 1)
        return True

    def expire(self, now_ms):
        """Free every entry with now_ms at or past its expiry; the number freed."""
        return self._sweep(now_ms // 1000)

    def pin(self, slot):
        """Protect a slot from eviction (not from expiry or removal); it becomes the most
        recently used pinned entry. Meant for keys known to be in use (flood control)."""
        if type(slot) is int and slot == self._ends[2] and slot != _NIL:
            return  # the most recently used pinned entry already: the usual case for an FBU
        self._check_slot(slot)
        o = slot * _REC + _ATF
        if self._slab[o] & _PINNED:
            self._touch(slot)
        else:
            self._unlink(slot)
            self._slab[o] |= _PINNED
            self._link_front(slot)

    def unpin(self, slot):
        """Make a pinned slot evictable again, as the most recently used unpinned entry."""
        self._check_slot(slot)
        o = slot * _REC + _ATF
        if self._slab[o] & _PINNED:
            self._unlink(slot)
            self._slab[o] &= ~_PINNED & 0xFF
            self._link_front(slot)

    def is_pinned(self, slot):
        self._check_slot(slot)
        return bool(self._slab[slot * _REC + _ATF] & _PINNED)

    def pinned_count(self):
        """Entries currently pinned (O(pinned)), for flood-control policy."""
        c = 0
        s = self._ends[2]
        while s != _NIL:
            c += 1
            s = self._next[s]
        return c

    def items(self, now_ms=None):
        """Yield (addr, fp, at, key, expires_ms) as new bytes for every entry, live only when
        now_ms is given: unpinned entries least recently used first, then pinned ones likewise,
        so put()-ing them back in this order rebuilds the same LRU order (pins are not carried).
        The table must not change while the generator runs."""
        now_s = -1 if now_ms is None else now_ms // 1000
        mv = self._mv
        for lst in (1, 3):
            s = self._ends[lst]
            while s != _NIL:
                e = self._exp[s]
                if now_s < e:
                    o = s * _REC
                    at = self._slab[o + _ATF] & _AT_MASK
                    yield (
                        bytes(mv[o : o + ADDR_LEN]),
                        bytes(mv[o + _FP : o + _FP + FP_LEN]),
                        at,
                        bytes(mv[o + _KEY : o + _KEY + self._klen[at]]),
                        e * 1000,
                    )
                s = self._prev[s]
