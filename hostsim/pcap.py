"""Classic pcap files: write raw IPv6 or Ethernet captures, read them back in any byte order and time resolution."""

import struct

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IP, version from the first nibble
LINKTYPE_IPV6 = 229

_MAGIC_US = 0xA1B2C3D4
_MAGIC_NS = 0xA1B23C4D
_PCAPNG = 0x0A0D0D0A
_ETHERTYPE_IPV6 = 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_SNAPLEN = 262144

# Locally administered MACs for synthetic captures; the destination is the all-nodes
# IPv6 multicast MAC, which every dissector accepts without further context.
DEFAULT_ETH_SRC = bytes.fromhex("020000000001")
DEFAULT_ETH_DST = bytes.fromhex("333300000001")


def write_pcap(path, frames, linktype=LINKTYPE_RAW, *, start=1_700_000_000.0, step=0.001,
               eth_src=DEFAULT_ETH_SRC, eth_dst=DEFAULT_ETH_DST):
    """Write IPv6 frames to a microsecond pcap file (little-endian, as tcpdump writes).

    frames holds bytes-like IPv6 packets, or (timestamp seconds, packet) pairs; bare packets
    get start, start + step, ... so files are reproducible. linktype 1 prepends an Ethernet
    header with ethertype 0x86DD; 101 and 229 store the packet as it is."""
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV6):
        raise ValueError("unsupported linktype %r" % (linktype,))
    if len(eth_src) != 6 or len(eth_dst) != 6:
        raise ValueError("MAC addresses must be 6 octets")
    out = [struct.pack("<IHHiIII", _MAGIC_US, 2, 4, 0, 0, _SNAPLEN, linktype)]
    for i, item in enumerate(frames):
        if isinstance(item, tuple):
            ts, data = item
        else:
            ts, data = start + i * step, item
        data = bytes(data)
        if linktype == LINKTYPE_ETHERNET:
            data = bytes(eth_dst) + bytes(eth_src) + struct.pack(">H", _ETHERTYPE_IPV6) + data
        usec_total = int(round(ts * 1_000_000))
        sec, usec = divmod(usec_total, 1_000_000)
        out.append(struct.pack("<IIII", sec, usec, len(data), len(data)))
        out.append(data)
    with open(path, "wb") as f:
        f.write(b"".join(out))


def _strip_ethernet(data):
    """The payload of an Ethernet frame carrying IPv6 (802.1Q / 802.1ad tags skipped), or None."""
    if len(data) < 14:
        return None
    p = 12
    etype = struct.unpack_from(">H", data, p)[0]
    while etype in _VLAN_TAGS:
        p += 4
        if len(data) < p + 2:
            return None
        etype = struct.unpack_from(">H", data, p)[0]
    if etype != _ETHERTYPE_IPV6:
        return None
    return data[p + 2:]


def read_pcap(path):
    """Read a classic pcap file: return (linktype, [packet bytes]).

    Both byte orders and both microsecond and nanosecond magics are accepted. For
    linktype 1 the Ethernet header (and any VLAN tags) is stripped and frames that do not
    carry IPv6 are left out; 101 and 229 frames come back unchanged. pcapng, other
    linktypes and truncated files raise ValueError."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 24:
        raise ValueError("not a pcap file: too short")
    magic_le = struct.unpack_from("<I", raw, 0)[0]
    if magic_le == _PCAPNG:
        raise ValueError("pcapng is not supported; convert with: editcap -F pcap IN OUT")
    for order in ("<", ">"):
        magic = struct.unpack_from(order + "I", raw, 0)[0]
        if magic in (_MAGIC_US, _MAGIC_NS):
            break
    else:
        raise ValueError("not a pcap file: magic %08x" % magic_le)
    _vmaj, _vmin, _zone, _sig, _snap, linktype = struct.unpack_from(order + "HHiIII", raw, 4)
    linktype &= 0x0FFFFFFF  # the top bits may carry FCS information
    if linktype not in (LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV6):
        raise ValueError("unsupported linktype %d" % linktype)
    frames = []
    p = 24
    while p < len(raw):
        if len(raw) - p < 16:
            raise ValueError("truncated record header at offset %d" % p)
        _sec, _frac, incl, _orig = struct.unpack_from(order + "IIII", raw, p)
        p += 16
        if len(raw) - p < incl:
            raise ValueError("truncated record at offset %d" % p)
        data = raw[p:p + incl]
        p += incl
        if linktype == LINKTYPE_ETHERNET:
            data = _strip_ethernet(data)
            if data is None:
                continue
        frames.append(data)
    return linktype, frames
