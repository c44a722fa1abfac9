"""MobileKeyStore: keys named by (router, PCoA), reachable from every router address, bounded, expiring."""

from dualtest import raises

from handoverkey.errors import EncodeError
from handoverkey.mobile_keys import MobileKeyStore

PCOA = bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 1]) + bytes(range(8))
PCOA2 = bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 2]) + bytes(range(8))
LL = bytes([0xFE, 0x80]) + bytes(6) + b"\x11" * 8  # PrRtAdv source (link-local CGA)
GLOBAL = bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 1]) + bytes(7) + b"\x01"


def router(n):
    return bytes([0xFE, 0x80]) + bytes(12) + bytes([n >> 8, n & 0xFF])


def test_key_is_found_through_every_router_address():
    st = MobileKeyStore()
    e = st.put((LL, GLOBAL), PCOA, 1, b"\x01" * 32, 60000)
    assert st.find(LL, PCOA, 0) is e
    assert st.find(memoryview(bytearray(GLOBAL)), memoryview(PCOA), 0) is e
    assert e.at == 1 and e.key == b"\x01" * 32 and e.expires_ms == 60000
    assert e.routers == (LL, GLOBAL) and e.pcoa == PCOA
    assert st.find(router(9), PCOA, 0) is None
    assert st.find(LL, PCOA2, 0) is None  # another care-of CGA: another key
    assert len(st) == 1


def test_expiry_boundary_drops_the_key():
    st = MobileKeyStore()
    st.put([LL], PCOA, 0, b"\x02" * 20, 5000)
    assert st.find(LL, PCOA, 4999) is not None
    assert st.find(LL, PCOA, 5000) is None
    assert len(st) == 0


def test_newer_key_from_the_same_router_replaces_the_old():
    st = MobileKeyStore()
    st.put([LL], PCOA, 0, b"\x02" * 20, 5000)
    st.put([LL, GLOBAL, LL], PCOA, 1, b"\x03" * 32, 9000)
    assert len(st) == 1
    e = st.find(LL, PCOA, 0)
    assert e.key == b"\x03" * 32 and e.at == 1 and e.routers == (LL, GLOBAL)
    # Sharing one address is enough to be the same router.
    st.put([GLOBAL, router(3)], PCOA, 1, b"\x04" * 32, 9000)
    assert len(st) == 1 and st.find(LL, PCOA, 0) is None
    assert st.find(router(3), PCOA, 0).key == b"\x04" * 32
    # The same router with another PCoA is a separate key.
    st.put([GLOBAL], PCOA2, 0, b"\x05" * 20, 9000)
    assert len(st) == 2
    assert st.find(GLOBAL, PCOA, 0).key == b"\x04" * 32
    assert st.find(GLOBAL, PCOA2, 0).key == b"\x05" * 20


def test_bounded_evicts_the_oldest_put():
    st = MobileKeyStore(8)
    for n in range(8):
        st.put([router(n)], PCOA, 0, bytes([n]) * 20, 60000)
    st.put([router(0)], PCOA, 0, b"\xee" * 20, 60000)  # refresh: router(1) is now oldest
    st.put([router(100)], PCOA, 0, b"\xff" * 20, 60000)
    assert len(st) == 8
    assert st.find(router(1), PCOA, 0) is None
    assert st.find(router(0), PCOA, 0).key == b"\xee" * 20
    assert st.find(router(100), PCOA, 0) is not None
    assert [e.routers[0] for e in st.items()] == [router(n) for n in (2, 3, 4, 5, 6, 7, 0, 100)]


def test_full_store_drops_an_expired_key_before_the_oldest():
    st = MobileKeyStore(3)
    st.put([router(1)], PCOA, 0, b"\x01" * 20, 60000)
    st.put([router(2)], PCOA, 0, b"\x02" * 20, 1000)
    st.put([router(3)], PCOA, 0, b"\x03" * 20, 60000)
    st.put([router(4)], PCOA, 0, b"\x04" * 20, 60000, 2000)
    assert st.find(router(1), PCOA, 2000) is not None
    assert st.find(router(2), PCOA, 0) is None
    # Without the time, the oldest goes.
    st.put([router(5)], PCOA, 0, b"\x05" * 20, 60000)
    assert st.find(router(1), PCOA, 0) is None


def test_remove_and_expire():
    st = MobileKeyStore(4)
    st.put([router(1), router(11)], PCOA, 0, b"\x01" * 20, 1000)
    st.put([router(2)], PCOA, 0, b"\x02" * 20, 2000)
    st.put([router(3)], PCOA, 0, b"\x03" * 20, 3000)
    assert st.remove(router(11), PCOA) is True
    assert st.remove(router(1), PCOA) is False
    assert st.expire(1999) == 0
    assert st.expire(2000) == 1
    assert [e.routers[0] for e in st.items()] == [router(3)]


def test_range_checks():
    st = MobileKeyStore()
    raises(EncodeError, st.put, [], PCOA, 0, bytes(20), 1000)
    raises(EncodeError, st.put, [router(n) for n in range(5)], PCOA, 0, bytes(20), 1000)
    raises(EncodeError, st.put, [bytes(15)], PCOA, 0, bytes(20), 1000)
    raises(EncodeError, st.put, [LL], PCOA[:15], 0, bytes(20), 1000)
    raises(EncodeError, st.put, [LL], PCOA, 2, bytes(20), 1000)
    raises(EncodeError, st.put, [LL], PCOA, 0, bytes(32), 1000)
    raises(EncodeError, st.put, [LL], PCOA, 1, bytes(20), 1000)
    raises(EncodeError, st.put, [LL], PCOA, 1, bytes(32), None)
    assert len(st) == 0
    for cap in (0, 256, "8"):
        raises(EncodeError, MobileKeyStore, cap)
