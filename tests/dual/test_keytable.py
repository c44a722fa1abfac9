"""KeyTable: put/lookup, replacement, LRU eviction, expiry, pinning, collisions, a model-based churn, allocation."""

from dualtest import raises
from keytable_model import Lcg, ModelTable

from handoverkey.errors import EncodeError
from handoverkey.keytable import KeyTable

KH = bytes(range(100, 116))  # a 16-octet SEND Key Hash; the table keeps its first 4 octets


def addr(n, prefix=0x20):
    """A distinct 16-octet address for n < 2**16, varying in the interface identifier."""
    return bytes([prefix, 0x01, 0x0D, 0xB8]) + bytes(10) + bytes([n >> 8, n & 0xFF])


def key_for(n, length=32):
    return bytes([(n * 7 + i) & 0xFF for i in range(length)])


def both_paths(capacity, salt=12345):
    """The table on the platform's default path, and on the allocation-free portable path."""
    return (KeyTable(capacity, salt=salt), KeyTable(capacity, salt=salt, portable=True))


def put(t, n, now=0, life_ms=60000, at=1, fp=KH):
    return t.put(addr(n), fp, at, key_for(n, 32 if at == 1 else 20), now + life_ms, now)


def test_put_then_lookup_returns_the_stored_fields():
    for t in both_paths(8):
        s = t.put(addr(1), KH, 1, key_for(1), 61000, 1000)
        assert t.lookup(addr(1), 1000) == s
        assert bytes(t.key(s)) == key_for(1)
        assert t.at(s) == 1
        assert t.expiry_ms(s) == 61000
        assert t.address(s) == addr(1)
        assert len(t) == 1


def test_lookup_accepts_memoryview_and_bytearray_addresses():
    for t in both_paths(8):
        s = put(t, 5)
        assert t.lookup(memoryview(bytearray(addr(5))), 0) == s
        assert t.lookup(bytearray(addr(5)), 0) == s
        assert t.lookup(memoryview(b"\xff" + addr(5))[1:], 0) == s


def test_absent_address_is_minus_one():
    for t in both_paths(8):
        assert t.lookup(addr(1), 0) == -1
        put(t, 1)
        assert t.lookup(addr(2), 0) == -1
        assert t.peek(addr(2), 0) == -1
        # Same interface identifier, other prefix: a different key address.
        assert t.lookup(addr(1, prefix=0x30), 0) == -1


def test_fingerprint_detects_a_new_public_key():
    for t in both_paths(4):
        s = put(t, 1)
        assert t.fingerprint_matches(s, KH)
        assert t.fingerprint_matches(s, KH[:4])
        # Only the first four octets are kept; a difference in any of them is seen.
        for i in range(4):
            other = bytearray(KH)
            other[i] ^= 0x01
            assert not t.fingerprint_matches(s, other)
        raises(EncodeError, t.fingerprint_matches, s, KH[:3])


def test_at0_key_is_20_octets_and_short_keys_leave_no_residue():
    for t in both_paths(4):
        s = put(t, 1, at=1)
        s2 = t.put(addr(1), KH, 0, b"\x11" * 20, 60000, 0)
        assert s2 == s
        assert t.at(s) == 0
        assert bytes(t.key(s)) == b"\x11" * 20
        # The 12 octets the AT 1 key used beyond 20 were cleared, not left behind.
        assert key_for(1)[20:] not in bytes(t._slab)


def test_replace_keeps_one_entry_and_updates_everything():
    for t in both_paths(4):
        put(t, 1)
        put(t, 2)
        newfp = b"\xaa\xbb\xcc\xdd"
        s = t.put(addr(1), newfp, 0, b"\x22" * 20, 90000, 5000)
        assert len(t) == 2
        assert t.lookup(addr(1), 5000) == s
        assert bytes(t.key(s)) == b"\x22" * 20
        assert t.at(s) == 0
        assert t.expiry_ms(s) == 90000
        assert t.fingerprint_matches(s, newfp)
        assert not t.fingerprint_matches(s, KH)
        assert [x[0] for x in t.items()] == [addr(2), addr(1)]


def test_lru_eviction_at_capacity():
    for t in both_paths(4):
        for n in (1, 2, 3, 4):
            put(t, n)
        assert t.lookup(addr(1), 0) >= 0  # 1 is now the most recent; 2 the least
        put(t, 5)
        assert t.peek(addr(2), 0) == -1
        for n in (1, 3, 4, 5):
            assert t.peek(addr(n), 0) >= 0
        # peek does not refresh: 3 stays the least recently used and goes next.
        assert t.peek(addr(3), 0) >= 0
        put(t, 6)
        assert t.peek(addr(3), 0) == -1
        # A replacing put refreshes: 4 would be next, but put(4) makes 1 the oldest.
        put(t, 4)
        put(t, 7)
        assert t.peek(addr(1), 0) == -1
        assert [x[0] for x in t.items()] == [addr(5), addr(6), addr(4), addr(7)]
        assert len(t) == 4


def test_find_keeps_the_lru_place_and_frees_an_expired_entry():
    for t in both_paths(3):
        for n in (1, 2, 3):
            put(t, n, life_ms=5000 if n == 3 else 60000)
        assert t.find(addr(1), 0) >= 0  # unlike lookup, 1 stays the least recently used
        put(t, 4)
        assert t.peek(addr(1), 0) == -1 and t.peek(addr(2), 0) >= 0
        assert t.find(addr(3), 5000) == -1  # expired: freed, as lookup would
        assert len(t) == 2 and t.peek(addr(3), 0) == -1
        assert t.find(addr(9), 0) == -1


def test_pin_makes_an_already_pinned_entry_the_most_recent_pinned_one():
    for t in both_paths(3):
        for n in (1, 2, 3):
            t.pin(put(t, n))
        t.pin(t.peek(addr(1), 0))  # 2 is now the least recently used pinned entry
        put(t, 4)
        assert t.peek(addr(2), 0) == -1
        assert [x[0] for x in t.items()] == [addr(4), addr(3), addr(1)]


def test_expiry_at_the_exact_boundary():
    for t in both_paths(4):
        s = t.put(addr(1), KH, 1, key_for(1), 5000, 0)
        assert t.peek(addr(1), 4999) == s
        assert t.lookup(addr(1), 4999) == s
        # peek reports the boundary as expired but frees nothing.
        assert t.peek(addr(1), 5000) == -1
        assert len(t) == 1
        assert t.lookup(addr(1), 5000) == -1
        assert len(t) == 0
        assert t.lookup(addr(1), 0) == -1  # freed, not just hidden


def test_expiry_is_truncated_to_whole_seconds_never_late():
    for t in both_paths(4):
        s = t.put(addr(1), KH, 1, key_for(1), 5999, 0)
        assert t.expiry_ms(s) == 5000
        assert t.lookup(addr(1), 4999) == s
        assert t.lookup(addr(1), 5000) == -1


def test_expire_frees_exactly_the_expired_entries():
    for t in both_paths(8):
        for n, life in ((1, 1000), (2, 2000), (3, 2000), (4, 3000), (5, 9000)):
            put(t, n, life_ms=life)
        assert t.expire(999) == 0
        assert t.expire(2000) == 3
        assert len(t) == 2
        assert t.peek(addr(4), 2000) >= 0 and t.peek(addr(5), 2000) >= 0
        assert t.expire(2999) == 0
        assert t.expire(3000) == 1
        assert [x[0] for x in t.items()] == [addr(5)]


def test_full_table_frees_expired_before_evicting_lru():
    for t in both_paths(3):
        put(t, 1, life_ms=2000)
        put(t, 2, life_ms=10000)
        put(t, 3, life_ms=10000)
        assert t.lookup(addr(1), 0) >= 0  # 1 most recent, 2 least recent
        put(t, 4, now=3000)  # 1 has expired: it goes, not the LRU entry 2
        assert t.peek(addr(1), 3000) == -1
        for n in (2, 3, 4):
            assert t.peek(addr(n), 3000) >= 0
        assert len(t) == 3


def test_items_replayed_rebuild_the_same_table():
    for t in both_paths(6):
        for n in range(1, 7):
            put(t, n, life_ms=10000 * n, at=n & 1)
        t.lookup(addr(2), 0)
        t.lookup(addr(5), 0)
        snap = list(t.items())
        assert [x[0] for x in snap] == [addr(n) for n in (1, 3, 4, 6, 2, 5)]
        assert snap[0] == (addr(1), KH[:4], 1, key_for(1), 10000)
        u = KeyTable(6, portable=t._fast is False)
        for a, fp, at, k, exp in snap:
            u.put(a, fp, at, k, exp, 0)
        assert list(u.items()) == snap
        # With a time, only live entries are listed.
        assert [x[0] for x in t.items(35000)] == [addr(4), addr(6), addr(5)]


def test_remove_then_reinsert():
    for t in both_paths(4):
        put(t, 1)
        put(t, 2)
        assert t.remove(addr(1)) is True
        assert t.remove(addr(1)) is False
        assert t.lookup(addr(1), 0) == -1
        assert len(t) == 1
        s = t.put(addr(1), KH, 0, b"\x33" * 20, 7000, 0)
        assert t.lookup(addr(1), 0) == s
        assert bytes(t.key(s)) == b"\x33" * 20
        assert t.lookup(addr(2), 0) >= 0
        assert len(t) == 2


def test_removed_key_material_is_zeroed():
    for t in both_paths(2):
        secret = b"\x5a" * 32
        t.put(addr(1), KH, 1, secret, 60000, 0)
        assert secret in bytes(t._slab)
        t.remove(addr(1))
        assert secret[:8] not in bytes(t._slab)


def test_many_colliding_addresses():
    # Same interface identifier, different prefixes: on the portable path these all share
    # one home position, so every probe, shift-back on removal and wraparound is exercised.
    for t in (KeyTable(16, salt=7, portable=True), KeyTable(16, salt=7)):
        col = [bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, p >> 8, p & 0xFF]) + b"\x02\x11\x22\x33\x44\x55\x66\x77" for p in range(16)]
        for i, a in enumerate(col):
            t.put(a, KH, 1, key_for(i), 60000, 0)
        for i, a in enumerate(col):
            s = t.lookup(a, 0)
            assert s >= 0 and bytes(t.key(s)) == key_for(i)
        for i in range(0, 16, 2):
            assert t.remove(col[i])
        for i, a in enumerate(col):
            s = t.lookup(a, 0)
            if i % 2:
                assert s >= 0 and bytes(t.key(s)) == key_for(i)
            else:
                assert s == -1
        for i in range(0, 16, 2):
            t.put(col[i], KH, 0, key_for(i, 20), 60000, 0)
        for i, a in enumerate(col):
            s = t.lookup(a, 0)
            assert bytes(t.key(s)) == key_for(i, 32 if i % 2 else 20)
        assert len(t) == 16


def test_removal_in_a_wrapped_probe_run():
    # Capacity 2 has 3 index cells: with colliding addresses a run wraps past the last cell.
    col = [bytes([p]) + bytes(7) + b"\xab" * 8 for p in range(6)]
    for t in (KeyTable(2, salt=1, portable=True), KeyTable(2, salt=2, portable=True), KeyTable(2)):
        for round_ in range(3):
            for i in range(6):
                t.put(col[i], KH, 1, key_for(i), 60000, 0)
                assert t.lookup(col[i], 0) >= 0
                if i:
                    assert t.lookup(col[i - 1], 0) >= 0
                    assert t.remove(col[i - 1])
                    assert t.lookup(col[i], 0) >= 0
            t.remove(col[5])
            assert len(t) == 0


def test_portable_hash_spreads_addresses_that_differ_in_one_octet():
    # Non-CGA addresses (sequential, or differing in one octet of the interface identifier)
    # must still spread over the index: 200 addresses over 384 cells land in about 155
    # distinct cells when spread at random; a hash that ignored the octet would give 1.
    for salt in (0, 0xFFFFF, 4242):
        t = KeyTable(256, salt=salt, portable=True)
        for pos in range(8, 16):
            homes = {}
            for v in range(200):
                a = bytearray(16)
                a[pos] = v
                homes[t._home(a, 0)] = True
            assert len(homes) >= 120


def test_capacity_one():
    for t in both_paths(1):
        assert t.bytes_per_entry() <= 64
        s = put(t, 1)
        assert t.lookup(addr(1), 0) == s
        put(t, 2)
        assert t.lookup(addr(1), 0) == -1
        assert t.lookup(addr(2), 0) >= 0
        assert len(t) == 1
        put(t, 2, at=0)
        assert len(t) == 1 and t.at(t.lookup(addr(2), 0)) == 0
        assert t.remove(addr(2))
        assert t.lookup(addr(2), 0) == -1
        put(t, 3, life_ms=1000)
        put(t, 4, now=2000)  # 3 expired on a full table
        assert [x[0] for x in t.items()] == [addr(4)]
        assert t.expire(10 ** 9) == 1 and len(t) == 0


def test_pinned_entries_survive_eviction():
    for t in both_paths(4):
        for n in (1, 2, 3, 4):
            put(t, n)
        t.pin(t.lookup(addr(1), 0))
        t.pin(t.lookup(addr(2), 0))
        assert t.is_pinned(t.peek(addr(1), 0)) and not t.is_pinned(t.peek(addr(3), 0))
        assert t.pinned_count() == 2
        for n in (5, 6, 7, 8):
            put(t, n)
        assert t.peek(addr(1), 0) >= 0 and t.peek(addr(2), 0) >= 0
        assert [x[0] for x in t.items()] == [addr(7), addr(8), addr(1), addr(2)]
        # All pinned: the least recently used pinned entry goes.
        t.pin(t.peek(addr(7), 0))
        t.pin(t.peek(addr(8), 0))
        t.lookup(addr(1), 0)
        put(t, 9)
        assert t.peek(addr(2), 0) == -1
        assert t.peek(addr(1), 0) >= 0 and t.peek(addr(9), 0) >= 0
        # Unpinning makes an entry evictable again.
        t.unpin(t.peek(addr(1), 0))
        put(t, 10)  # 9 is the only older unpinned entry
        assert t.peek(addr(9), 0) == -1 and t.peek(addr(1), 0) >= 0
        put(t, 11)
        assert t.peek(addr(1), 0) == -1


def test_pin_does_not_stop_expiry_and_replacement_unpins():
    for t in both_paths(4):
        s = put(t, 1, life_ms=1000)
        t.pin(s)
        assert t.lookup(addr(1), 1000) == -1
        s = put(t, 2)
        t.pin(s)
        s = put(t, 2)
        assert not t.is_pinned(s)
        assert t.pinned_count() == 0


def test_attachment_is_cleared_whenever_the_key_changes():
    # The router keeps a pre-keyed MAC as a slot's attachment; a stale one would verify FBUs
    # with a key the table no longer holds, so every path that changes or frees a key clears it.
    t = KeyTable(2, portable=False)
    s = put(t, 1)
    t.attach(s, "mac1")
    assert t.lookup(addr(1), 0) == s and t.attachment(s) == "mac1"
    t.pin(s)
    t.unpin(s)
    assert t.peek(addr(1), 0) == s and t.attachment(s) == "mac1"
    assert put(t, 1) == s and t.attachment(s) is None  # replaced
    t.attach(s, "mac1")
    t.remove(addr(1))
    # Freeing drops it at once: it holds key-derived state that must not outlive the key.
    assert t.attachment(s) is None
    assert t.attachment(put(t, 2)) is None  # reuses the removed slot
    t.attach(t.peek(addr(2), 0), "mac2")
    s3 = put(t, 3, life_ms=1000)
    t.attach(s3, "mac3")
    assert t.lookup(addr(3), 1000) == -1  # expired and freed by lookup
    assert t.attachment(s3) is None
    s4 = put(t, 4, now=1000, life_ms=1000)
    assert s4 == s3 and t.attachment(s4) is None
    t.attach(s4, "mac4")
    assert t.expire(2000) == 1
    s5 = put(t, 5, now=2000)
    assert s5 == s4 and t.attachment(s5) is None
    t.attach(s5, "mac5")
    # Full: the least recently used (2) is evicted and its slot reused; 5 keeps its attachment.
    s2 = t.peek(addr(2), 2000)
    s6 = put(t, 6, now=2000)
    assert s6 == s2 and t.attachment(s6) is None
    assert t.attachment(s5) == "mac5"
    t.attach(s6, "mac6")
    s7 = put(t, 7, now=2000, life_ms=1000)  # evicts 5, now the least recently used
    assert s7 == s5 and t.attachment(s7) is None
    t.attach(s7, "mac7")
    # Full with an expired entry (7): the sweep frees it, and the reused slot starts clean.
    s8 = put(t, 8, now=3000)
    assert s8 == s7 and t.attachment(s8) is None and t.attachment(s6) == "mac6"
    t.remove(addr(8))
    raises(EncodeError, t.attach, s8, "late")


def test_portable_table_keeps_no_attachments():
    t = KeyTable(4, portable=True)
    s = put(t, 1)
    t.attach(s, "mac")
    assert t.attachment(s) is None


def test_bytes_per_entry_within_64():
    for n in (1, 2, 3, 7, 64, 255, 256, 1000, 4096):
        t = KeyTable(n)
        assert t.capacity == n
        assert t.table_bytes() == 61 * n + 2 * (n + n // 2)
        assert t.bytes_per_entry() <= 64
    assert KeyTable(256).bytes_per_entry() == 64


def test_put_of_something_not_bytes_changes_nothing():
    """A key, fingerprint or address that is not bytes-like is an EncodeError before anything
    moves: the put used to evict and take a slot first, then fail on the copy, leaving a slot
    that was neither free nor listed (a capacity-1 table then failed every later put)."""
    for portable in (True, False):
        t = KeyTable(1, portable=portable)
        t.put(addr(1), KH, 1, key_for(1), 60000, 0)
        before = list(t.items())
        for a, fp, k in ((addr(2), KH, list(key_for(2))), (addr(2), "abcd", key_for(2)),
                         (list(addr(2)), KH, key_for(2)), (addr(2), KH, "k" * 32)):
            raises(EncodeError, t.put, a, fp, 1, k, 60000, 0)
            assert list(t.items()) == before and len(t) == 1
        t.put(addr(2), KH, 1, key_for(2), 60000, 0)
        assert [e[0] for e in t.items()] == [addr(2)]


def test_range_checks_raise_encode_error():
    t = KeyTable(4)
    for bad in (bytes(15), bytes(17), b""):
        raises(EncodeError, t.put, bad, KH, 1, key_for(1), 60000, 0)
        raises(EncodeError, t.lookup, bad, 0)
        raises(EncodeError, t.peek, bad, 0)
        raises(EncodeError, t.remove, bad)
    raises(EncodeError, t.put, addr(1), KH[:3], 1, key_for(1), 60000, 0)
    for at in (2, 15, 16, -1):
        raises(EncodeError, t.put, addr(1), KH, at, key_for(1), 60000, 0)
    raises(EncodeError, t.put, addr(1), KH, 0, key_for(1, 32), 60000, 0)
    raises(EncodeError, t.put, addr(1), KH, 1, key_for(1, 20), 60000, 0)
    raises(EncodeError, t.put, addr(1), KH, 1, key_for(1), 5000, 5000)
    raises(EncodeError, t.put, addr(1), KH, 1, key_for(1), 5999, 5000)  # truncates to now
    raises(EncodeError, t.put, addr(1), KH, 1, key_for(1), 1 << 42, 0)
    assert len(t) == 0  # nothing half-written
    for cap in (0, -1, 65536, "4"):
        raises(EncodeError, KeyTable, cap)
    s = put(t, 1)
    for bad_slot in (-1, 4, 99):
        raises(EncodeError, t.key, bad_slot)
        raises(EncodeError, t.at, bad_slot)
    t.remove(addr(1))
    raises(EncodeError, t.key, s)  # a freed slot
    raises(EncodeError, t.pin, s)
    # With no key pinned the pinned list's head is the "none" link (0xFFFF): not a slot either.
    for bad_slot in (0xFFFF, -1, 4, 1.0, None):
        raises(EncodeError, t.pin, bad_slot)
    for bad in (bytes(15), bytes(17)):
        raises(EncodeError, t.find, bad, 0)


def _churn(t, seed, steps_puts):
    """Random operations against the model until `steps_puts` puts have been made."""
    rng = Lcg(seed)
    model = ModelTable(t.capacity)
    pool = []
    for i in range(t.capacity * 2 + 40):
        a = rng.bytes(16)
        if i % 9 == 0 and pool:
            a = rng.bytes(8) + pool[-1][8:]  # shares an interface identifier with another
        pool.append(a)
    now = 0
    puts = 0
    ops = 0
    while puts < steps_puts:
        ops += 1
        r = rng.below(100)
        a = pool[rng.below(len(pool))]
        if r < 45:
            at = rng.below(2)
            k = rng.bytes(20 if at == 0 else 32)
            fp = rng.bytes(4 + rng.below(13))
            exp = now + 1 + rng.below(60000)
            if exp // 1000 <= now // 1000:
                exp = (now // 1000 + 1) * 1000
            t.put(a, fp, at, k, exp, now)
            model.put(a, fp, at, k, exp, now)
            puts += 1
        elif r < 75:
            # lookup moves the entry up the LRU order; find must leave it in place.
            s = t.lookup(a, now) if r < 65 else t.find(a, now)
            e = model.lookup(a, now) if r < 65 else model.find(a, now)
            assert (s >= 0) == (e is not None)
            if e is not None:
                assert bytes(t.key(s)) == e[2]
                assert t.at(s) == e[1]
                assert t.fingerprint_matches(s, e[0])
                assert t.expiry_ms(s) == e[3] * 1000
                assert t.is_pinned(s) == e[4]
        elif r < 80:
            s = t.peek(a, now)
            e = model.peek(a, now)
            assert (s >= 0) == (e is not None)
            if e is not None:
                assert bytes(t.key(s)) == e[2]
        elif r < 88:
            assert t.remove(a) == model.remove(a)
        elif r < 93:
            s = t.peek(a, now)
            if s >= 0:
                if r & 1:
                    t.pin(s)
                    model.pin(a)
                else:
                    t.unpin(s)
                    model.unpin(a)
        elif r < 95:
            assert t.expire(now) == model.expire(now)
        else:
            now += rng.below(4000)
        assert len(t) == len(model)
        if ops % 64 == 0:
            assert list(t.items(now)) == model.items(now)
            assert list(t.items()) == model.items()
    assert list(t.items()) == model.items()
    return ops


def test_model_churn_capacity_256_ten_times_over():
    for t in both_paths(256, salt=99):
        ops = _churn(t, 2024, 10 * 256)
        assert ops > 10 * 256


def test_model_churn_small_tables():
    for cap in (1, 2, 3, 5, 8):
        for t in both_paths(cap, salt=cap):
            _churn(t, cap * 31 + 1, 400)


def _mpy():
    try:
        import micropython
    except ImportError:
        return None
    return micropython


def test_lookup_allocates_nothing_on_micropython():
    micropython = _mpy()
    if micropython is None:
        return  # CPython: no heap lock; the allocation rule is a MicroPython one
    t = KeyTable(64)
    for n in range(40):
        put(t, n, life_ms=1000 if n == 3 else 60000)
    hit = addr(17)
    hit_mv = memoryview(bytearray(addr(18)))
    miss = addr(500)
    expired = addr(3)
    micropython.heap_lock()
    try:
        s1 = t.lookup(hit, 2000)
        s2 = t.lookup(hit_mv, 2000)
        s3 = t.lookup(miss, 2000)
        s4 = t.lookup(expired, 2000)  # frees the entry: also without allocating
        s5 = t.peek(hit, 2000)
        at = t.at(s1)
        fm = t.fingerprint_matches(s1, KH)
        ex = t.expiry_ms(s1)
    finally:
        micropython.heap_unlock()
    assert s1 >= 0 and s2 >= 0 and s3 == -1 and s4 == -1 and s5 == s1
    assert at == 1 and fm and ex == 60000
    assert len(t) == 39


def test_key_allocates_only_the_view_on_micropython():
    micropython = _mpy()
    if micropython is None:
        return
    import gc

    t = KeyTable(8)
    s = put(t, 1)
    v = t.key(s)  # warm up any one-time tables
    gc.collect()
    before = gc.mem_alloc()
    v = t.key(s)
    after = gc.mem_alloc()
    assert after - before <= 64  # one memoryview object, nothing else
    assert bytes(v) == key_for(1)
