"""What `bench` and `footprint` feed the engines: keys, a router config per key size, signed frames (CPython only).

Everything is built here before any clock starts, with the firmware's own codecs laid out
exactly as the mobile node engine lays them out (mobile.py `_send_rtsolpr`, `_send_fbu`):

- the router is the simulated world's PAR (hostsim.world.router_config("PAR")): its 2048-bit
  fixture key, certificate path and neighbour. For --key-bits 1024 its key (and the link-local
  CGA made from it) is replaced by a fresh 1024-bit key, so every RSA operation of a
  provisioning is of the size asked for;
- mobile nodes: `MN_KEYS` fresh CGA keys and as many HKE keys of that size. Each RtSolPr comes
  from its own Sec 1 CGA: the same key and modifier under a different /64 of 2001:db8:1::/48
  (Hash2 does not cover the prefix, so one modifier search per key serves every prefix), with a
  fresh nonce and the wall-clock timestamp of the run, so every replay and timestamp check
  passes and the router provisions a new key for each one. The router keeps nothing between
  messages that a repeated key could profit from (it parses each CGA key and HKE key afresh);
- FBUs: the mobile node's layout (Home Address option, predictive Alternate CoA, BADF last)
  with consecutive sequence numbers, each one new to the router.
"""

import os

from handoverkey import algorithms, crypto
from handoverkey.crypto import host
from handoverkey.send import cga_gen, signature
from handoverkey.wire import icmp, ipv6, mh, ndopt

from . import world

MN_KEYS = 4  # distinct CGA keys (and HKE keys) per key size
WALL_S = world.FIXED_WALL_S
NCOA = world.addr("2001:db8:2::c0a")  # the care-of address the FBUs register (any unicast address)

_SITE = world.addr("2001:db8:1::")[:6]  # 2001:db8:1::/48, one /64 per RtSolPr below it
_LINK_LOCAL = world.addr(world.LINK_LOCAL_PREFIX)[:8]

_keys = {}
_mods = {}


def keys(bits, count=MN_KEYS, tag="mn"):
    """`count` RSA keys of `bits` bits made by OpenSSL, kept for the rest of the process."""
    have = _keys.setdefault((bits, tag), [])
    while len(have) < count:
        have.append(host.generate_rsa(bits))
    return have[:count]


def router_config(bits, table_capacity=256):
    """The PAR's engine config with a router key of `bits` bits (see the module docstring)."""
    cfg = world.router_config("PAR", world.Plan(key_bits=bits, table_capacity=table_capacity))
    if bits != 2048:
        key = keys(bits, 1, "router")[0]
        ll, params = cga_gen.cga_generate(key.public.spki(), _LINK_LOCAL, sec=1)
        cfg["key"] = key.pkcs8().hex()
        cfg["link_local"] = ll.hex()
        cfg["cga_params"] = params.hex()
    return cfg


def _modifier(key):
    # A Sec 1 modifier of this key, searched once (about 2^16 SHA-1s).
    m = _mods.get(key.public.n)
    if m is None:
        _, params = cga_gen.cga_generate(key.public.spki(), world.addr(world.PAR_PREFIX)[:8], sec=1)
        m = params[:16]
        _mods[key.public.n] = m
    return m


def mobile_cga(key, index):
    """(address, CGA Parameters) of `key` under the index-th /64 of 2001:db8:1::/48 (Sec 1)."""
    prefix = _SITE + bytes(((index >> 8) & 0xFF, index & 0xFF))
    return cga_gen.cga_generate(key.public.spki(), prefix, sec=1, modifier=_modifier(key))


class Request:
    """One pregenerated RtSolPr and what the test side knows about it."""

    def __init__(self, frame, pcoa, cga_key, hke_key, at):
        self.frame = frame
        self.pcoa = pcoa
        self.cga_key = cga_key
        self.hke_key = hke_key
        self.at = at


def rtsolpr(router_ll, cga_key, hke_key, index, at=1, wall_s=WALL_S):
    """A signed RtSolPr with a Handover Key Request from the index-th CGA of cga_key."""
    pcoa, params = mobile_cga(cga_key, index)
    nonce = os.urandom(6)
    buf = bytearray(1500)
    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_ICMPV6, 255, pcoa, router_ll)
    icmp_off = off
    off = icmp.encode_rtsolpr(buf, off, (nonce[0] << 8) | nonce[1])
    off = ndopt.put_lla(buf, off, ndopt.LLA_SOURCE, world.MN_LLA)
    off = ndopt.put_lla(buf, off, ndopt.LLA_NEW_AP, world.NAR_AP)
    off = ndopt.put_cga(buf, off, params)
    off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(wall_s))
    off = ndopt.put_nonce(buf, off, nonce)
    off = ndopt.put_hk_request(buf, off, at, hke_key.public.spki())
    end = signature.sign(cga_key, buf, 0, icmp_off, off)
    return Request(bytes(buf[:end]), pcoa, cga_key, hke_key, at)


def rtsolprs(cfg, bits, count, first=1, at=1, wall_s=WALL_S):
    """`count` RtSolPrs to the router of cfg, from CGAs first .. first + count - 1, rotating
    over MN_KEYS CGA keys and MN_KEYS HKE keys of `bits` bits."""
    router_ll = bytes.fromhex(cfg["link_local"])
    cga_keys = keys(bits)
    hke_keys = keys(bits, tag="hke")
    out = []
    for i in range(first, first + count):
        k = i % len(cga_keys)
        out.append(rtsolpr(router_ll, cga_keys[k], hke_keys[k], i, at, wall_s))
    return out


def handover_key(prrtadv, hke_key):
    """(AT, handover key) from a PrRtAdv's Handover Key Reply, decrypted with the HKE key."""
    pkt = ipv6.decode_packet(prrtadv)
    msg = icmp.decode_icmp(prrtadv, pkt.payload_off, pkt.payload_end)
    o = msg.find(ndopt.OPT_HK_REPLY)
    if o is None:
        raise ValueError("PrRtAdv without a Handover Key Reply")
    reply = ndopt.get_hk_reply(prrtadv, o[1], o[2])
    return reply.at, crypto.rsa_decrypt_implicit(hke_key, bytes(reply.enc_key), algorithms.key_len(reply.at))


def fbu(key, at, pcoa, ncoa, par, seq, ack=False, predictive=True, lifetime=30):
    """An FBU as mobile.py `_send_fbu` makes it (flags H, plus A when ack)."""
    alen = algorithms.auth_len(at)
    buf = bytearray(256)
    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_DEST_OPTS, 64, pcoa if predictive else ncoa, par)
    off = ipv6.encode_dest_opts_hao(buf, off, mh.IPPROTO_MH, pcoa)
    mh_off = off
    flags = mh.FBU_H | (mh.FBU_A if ack else 0)
    end, auth_off = mh.encode_fbu(buf, off, seq, flags, lifetime, alen, ncoa if predictive else None)
    parts = mh.badf_mac_parts(buf, mh_off, auth_off, ncoa, par)
    mh.set_authenticator(buf, auth_off, alen, algorithms.mac(at, key, *parts))
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def mac_input(frame):
    """The exact octets the BADF MAC of an FBU covers (interpretations §2), as one bytes."""
    pkt = ipv6.decode_packet(frame)
    m = mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
    ncoa = m.alt_coa if m.alt_coa is not None else pkt.src
    return b"".join(bytes(p) for p in mh.badf_mac_parts(frame, m.off, m.auth_off, ncoa, pkt.dst))
