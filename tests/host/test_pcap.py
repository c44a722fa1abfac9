"""hostsim.pcap: classic pcap writing and reading in both byte orders, us/ns, linktypes 1/101/229."""

import struct

import pytest

from hostsim.pcap import LINKTYPE_ETHERNET, LINKTYPE_IPV6, LINKTYPE_RAW, read_pcap, write_pcap

F1 = bytes.fromhex("6000000000003aff") + bytes(32)
F2 = bytes.fromhex("60000000000887ff") + bytes(32) + b"\x3b\x00\x08\x00\x00\x00\x00\x00"


def _file(order, magic, linktype, records):
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data in records:
        out += struct.pack(order + "IIII", sec, frac, len(data), len(data)) + data
    return out


@pytest.mark.parametrize("linktype", [LINKTYPE_RAW, LINKTYPE_IPV6, LINKTYPE_ETHERNET])
def test_round_trip(tmp_path, linktype):
    path = tmp_path / "x.pcap"
    write_pcap(path, [F1, bytearray(F2), memoryview(F1)], linktype)
    assert read_pcap(path) == (linktype, [F1, F2, F1])


def test_written_header_and_ethernet_framing(tmp_path):
    path = tmp_path / "e.pcap"
    write_pcap(path, [(1.5, F1)], LINKTYPE_ETHERNET)
    raw = path.read_bytes()
    assert struct.unpack_from("<IHHiIII", raw, 0) == (0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    assert struct.unpack_from("<IIII", raw, 24) == (1, 500000, 14 + len(F1), 14 + len(F1))
    assert raw[40:54] == bytes.fromhex("333300000001" "020000000001" "86dd")
    assert raw[54:] == F1


def test_default_timestamps_are_reproducible(tmp_path):
    a, b = tmp_path / "a.pcap", tmp_path / "b.pcap"
    write_pcap(a, [F1, F2])
    write_pcap(b, [F1, F2])
    assert a.read_bytes() == b.read_bytes()
    assert struct.unpack_from("<II", a.read_bytes(), 24 + 16 + len(F1)) == (1700000000, 1000)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("magic", [0xA1B2C3D4, 0xA1B23C4D])
def test_read_byte_orders_and_resolutions(tmp_path, order, magic):
    path = tmp_path / "o.pcap"
    path.write_bytes(_file(order, magic, 101, [(1, 999999999 if magic == 0xA1B23C4D else 999999, F1), (2, 0, F2)]))
    assert read_pcap(path) == (101, [F1, F2])


def test_read_strips_vlan_tags_and_skips_other_ethertypes(tmp_path):
    mac = bytes(12)
    frames = [
        (0, 0, mac + b"\x86\xdd" + F1),
        (0, 0, mac + b"\x81\x00\x00\x05\x86\xdd" + F2),
        (0, 0, mac + b"\x88\xa8\x00\x05\x81\x00\x00\x06\x86\xdd" + F1),
        (0, 0, mac + b"\x08\x00" + b"\x45" + bytes(19)),  # IPv4: left out
        (0, 0, mac + b"\x81\x00\x00"),  # truncated tag: left out
        (0, 0, b"\x00" * 5),  # runt: left out
    ]
    path = tmp_path / "v.pcap"
    path.write_bytes(_file(">", 0xA1B2C3D4, 1, frames))
    assert read_pcap(path) == (1, [F1, F2, F1])


def test_read_errors(tmp_path):
    path = tmp_path / "bad.pcap"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))
    with pytest.raises(ValueError, match="pcapng"):
        read_pcap(path)
    path.write_bytes(b"\x00" * 24)
    with pytest.raises(ValueError):
        read_pcap(path)
    path.write_bytes(b"\xd4\xc3\xb2\xa1")
    with pytest.raises(ValueError):
        read_pcap(path)
    good = _file("<", 0xA1B2C3D4, 101, [(0, 0, F1)])
    for cut in (len(good) - 1, 24 + 15):
        path.write_bytes(good[:cut])
        with pytest.raises(ValueError, match="truncated"):
            read_pcap(path)
    path.write_bytes(_file("<", 0xA1B2C3D4, 105, [(0, 0, F1)]))
    with pytest.raises(ValueError, match="linktype"):
        read_pcap(path)


def test_write_errors(tmp_path):
    with pytest.raises(ValueError):
        write_pcap(tmp_path / "w.pcap", [F1], 105)
    with pytest.raises(ValueError):
        write_pcap(tmp_path / "w.pcap", [F1], 1, eth_src=b"\x00")
