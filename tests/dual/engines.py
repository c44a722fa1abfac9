"""Router and mobile node engines for the dual tests, without hostsim.

- configs: the committed JSON of tests/fixtures/engine/ (made by `python -m hostsim.engine_fixtures`),
  returned as fresh dicts a test may edit before building an engine;
- a fixed wall clock (WALL_S, inside the test certificates' validity) advancing with now_ms;
- Link: a tiny in-memory link that passes frames between engines by destination address;
- builders and decoders for the frames the tests forge or inspect, written with the firmware
  wire codecs, and the BADF MAC computed here from interpretations §1-2 (not from the engines).

Runs unchanged on CPython (pytest) and MicroPython (runner.py): no ipaddress, no functools,
and nothing depends on dict order.
"""

import json

from dualtest import read_fixture
from handoverkey import crypto
from handoverkey.config import build_engine
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey
from handoverkey.send import signature
from handoverkey.wire import icmp, ipv6, mh, ndopt

# 2027-06-01T00:00:00Z, inside every test certificate's validity (tests/fixtures/pki/README.txt).
WALL_S = 1811808000

ALL_NODES = b"\xff\x02" + bytes(13) + b"\x01"
ALL_ROUTERS = b"\xff\x02" + bytes(13) + b"\x02"
_SOLICITED = b"\xff\x02" + bytes(9) + b"\x01\xff"

# interpretations §1, written out here so the tests do not lean on handoverkey.algorithms.
KEY_LEN = {0: 20, 1: 32}
AUTH_LEN = {0: 12, 1: 16}

_text = {}
_keys = {}


def wall(now_ms):
    """The wall clock (Unix seconds) at monotonic time now_ms: WALL_S when now_ms is 0."""
    return WALL_S + now_ms // 1000


def config(name):
    """A fresh copy of tests/fixtures/engine/<name>.json: router_par, mobile_1024, mobile_2048, extra."""
    t = _text.get(name)
    if t is None:
        t = read_fixture("engine/" + name + ".json", "r")
        _text[name] = t
    return json.loads(t)


def router_cfg(**over):
    cfg = config("router_par")
    for k in over:
        cfg[k] = over[k]
    return cfg


def mobile_cfg(bits=1024, second=False, **over):
    """A mobile node config; second=True gives the other mobile node (its own CGA key, CGAs, HKE key)."""
    cfg = config("mobile_%d" % bits)
    if second:
        mn2 = config("extra")["mn2"]
        for k in mn2:
            cfg[k] = mn2[k]
    for k in over:
        cfg[k] = over[k]
    return cfg


def make_router(**over):
    return build_engine("router", router_cfg(**over))


def make_mobile(bits=1024, second=False, **over):
    return build_engine("mobile", mobile_cfg(bits, second, **over))


def private_key(hex_der):
    """An RsaPrivateKey from PKCS#8 hex, parsed once per process."""
    k = _keys.get(hex_der)
    if k is None:
        k = RsaPrivateKey.from_pkcs8(bytes.fromhex(hex_der))
        _keys[hex_der] = k
    return k


class Identity:
    """A mobile node config seen from the test: its keys and addresses."""

    def __init__(self, cfg):
        self.cga_key = private_key(cfg["cga_key"])
        self.pcoa = bytes.fromhex(cfg["pcoa"])
        self.params = bytes.fromhex(cfg["pcoa_params"])
        self.ncoa = bytes.fromhex(cfg["ncoa"])
        self.link_local = bytes.fromhex(cfg["link_local"])
        self.router_address = bytes.fromhex(cfg["router_address"])
        self.hke = [private_key(d) for d in cfg.get("hke_keys", [])]

    def hke_for(self, spki):
        """The HKE private key of the pool whose public key is `spki`, or None."""
        spki = bytes(spki)
        for k in self.hke:
            if k.public.spki() == spki:
                return k
        return None


class RouterIdentity:
    def __init__(self, cfg):
        self.key = private_key(cfg["key"])
        self.link_local = bytes.fromhex(cfg["link_local"])
        self.address = bytes.fromhex(cfg["address"])
        self.cga_params = bytes.fromhex(cfg["cga_params"])
        self.cert_path = [bytes.fromhex(c) for c in cfg["cert_path"]]


# -- an in-memory link --


def accepts(addresses, is_router, dst):
    """True when a node with these unicast addresses takes a frame for dst on its link."""
    dst = bytes(dst)
    if dst == ALL_NODES:
        return True
    if dst == ALL_ROUTERS:
        return is_router
    for a in addresses:
        if dst == a or (dst[:13] == _SOLICITED and dst[13:] == a[13:]):
            return True
    return False


class Link:
    """Engines on one link. A frame goes to every other node that accepts its destination,
    in the order sent; time moves only when the test says so (advance / at)."""

    def __init__(self, now_ms=0):
        self.now_ms = now_ms
        self._nodes = []  # [name, engine, addresses, is_router]
        self._queue = []  # (sender, frame)
        self.sent = []  # (now_ms, sender, frame), every frame any node sent
        self.events = []  # (now_ms, node, kind, fields)
        self.held = []  # frames run(hold=...) kept back

    @property
    def wall_s(self):
        return wall(self.now_ms)

    def add(self, name, engine, addresses, router=False):
        self._nodes.append([name, engine, [bytes(a) for a in addresses], router])
        return engine

    def engine(self, name):
        return self._node(name)[1]

    def _node(self, name):
        for n in self._nodes:
            if n[0] == name:
                return n
        raise KeyError(name)

    def at(self, now_ms):
        if now_ms < self.now_ms:
            raise ValueError("time goes forward only")
        self.now_ms = now_ms

    def advance(self, ms):
        self.now_ms += ms

    def _emit(self, name, out):
        frames, events = out
        for f in frames:
            self.sent.append((self.now_ms, name, bytes(f)))
            self._queue.append((name, bytes(f)))
        for kind, fields in events:
            self.events.append((self.now_ms, name, kind, fields))
        return out

    def call(self, name, method, *args):
        """Drive an engine (attach, move, binding_complete, poll, ...); its frames are queued."""
        fn = getattr(self.engine(name), method)
        return self._emit(name, fn(self.now_ms, self.wall_s, *args))

    def inject(self, frame, sender="test"):
        """Queue a frame as if `sender` had sent it on this link."""
        self.sent.append((self.now_ms, sender, bytes(frame)))
        self._queue.append((sender, bytes(frame)))

    def run(self, limit=64, hold=()):
        """Deliver queued frames (and whatever they cause) until none is left. Frames of a kind
        in `hold` (see kind()) are not delivered but appended to self.held, for the test to
        inspect, alter or deliver later."""
        n = 0
        while self._queue:
            n += 1
            if n > limit:
                raise AssertionError("frames keep coming: a loop between engines")
            sender, frame = self._queue.pop(0)
            if kind(frame) in hold:
                self.held.append(frame)
                continue
            dst = frame[24:40]
            for name, engine, addrs, is_router in self._nodes:
                if name != sender and accepts(addrs, is_router, dst):
                    self._emit(name, engine.handle(frame, self.now_ms, self.wall_s))
        return n

    def deliver(self, name, frame):
        """Hand one frame straight to one engine (no queueing); return its (frames, events)."""
        return self._emit(name, self.engine(name).handle(bytes(frame), self.now_ms, self.wall_s))

    def kinds(self, name, since=0):
        """Event kinds of a node, in order, from the since-th event of the whole link on."""
        return [e[2] for e in self.events[since:] if e[1] == name]

    def fields(self, name, kind):
        """The fields of every `kind` event of a node, in order."""
        return [e[3] for e in self.events if e[1] == name and e[2] == kind]

    def frames(self, name, what=None, since=0):
        """Frames a node sent (from the since-th frame of the link on), optionally only of one kind."""
        return [f for _, s, f in self.sent[since:] if s == name and (what is None or kind(f) == what)]


def option(opt_type, writer, *args):
    """The raw bytes of one ND option written by an ndopt.put_* function."""
    buf = bytearray(1200)
    end = writer(buf, 0, *args)
    return bytes(buf[:end])


def pair(router=None, mobile=None, now_ms=0):
    """A Link with a router "PAR" and a mobile node "MN" (fixture configs unless given)."""
    r = router if router is not None else make_router()
    m = mobile if mobile is not None else make_mobile()
    link = Link(now_ms)
    link.add("PAR", r, [r.link_local, r.address], router=True)
    link.add("MN", m, [m.pcoa, m.ncoa, m.link_local])
    return link


def attach(link, name="MN"):
    """Attach the mobile node (CPS/CPA first if needed, RtSolPr, PrRtAdv); True once a key is stored."""
    mark = len(link.events)
    link.call(name, "attach")
    link.run()
    return "key-stored" in link.kinds(name, mark)


# -- frame decoding --


def kind(frame):
    """"cps" "cpa" "rtsolpr" "prrtadv" "fbu" "fback", or "other"."""
    try:
        pkt = ipv6.decode_packet(frame)
        if pkt.next_header == 58:
            t = frame[pkt.payload_off]
            if t == icmp.ICMP_CPS:
                return "cps"
            if t == icmp.ICMP_CPA:
                return "cpa"
            if t == icmp.ICMP_FMIPV6:
                sub = frame[pkt.payload_off + 4]
                return "rtsolpr" if sub == icmp.SUB_RTSOLPR else "prrtadv" if sub == icmp.SUB_PRRTADV else "other"
        if pkt.next_header == mh.IPPROTO_MH:
            t = frame[pkt.payload_off + 2]
            return "fbu" if t == mh.MH_FBU else "fback" if t == mh.MH_FBACK else "other"
    except Exception:
        pass
    return "other"


def icmp_of(frame):
    """(Ipv6Packet, IcmpMessage) of an ICMPv6 frame; the checksum must be right."""
    pkt = ipv6.decode_packet(frame)
    if not ipv6.verify_upper(frame, pkt):
        raise AssertionError("bad ICMPv6 checksum")
    return pkt, icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)


def mh_of(frame):
    """(Ipv6Packet, MobilityMessage) of an FBU or FBack; the checksum must be right."""
    pkt = ipv6.decode_packet(frame)
    if not ipv6.verify_upper(frame, pkt):
        raise AssertionError("bad Mobility Header checksum")
    return pkt, mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)


def option_types(frame):
    return [o[0] for o in icmp_of(frame)[1].options]


def _opt(frame, opt_type, getter):
    o = icmp_of(frame)[1].find(opt_type)
    return None if o is None else getter(frame, o[1], o[2])


def get_nonce(frame):
    v = _opt(frame, ndopt.OPT_NONCE, ndopt.get_nonce)
    return None if v is None else bytes(v)


def get_timestamp(frame):
    return _opt(frame, ndopt.OPT_TIMESTAMP, ndopt.get_timestamp)


def hk_request(frame):
    return _opt(frame, ndopt.OPT_HK_REQUEST, ndopt.get_hk_request)


def hk_reply(frame):
    return _opt(frame, ndopt.OPT_HK_REPLY, ndopt.get_hk_reply)


def cga_params(frame):
    v = _opt(frame, ndopt.OPT_CGA, ndopt.get_cga)
    return None if v is None else bytes(v.params)


def rsa_sig(frame):
    return _opt(frame, ndopt.OPT_RSA_SIG, ndopt.get_rsa_sig)


def signer(frame, known_key=None):
    """The key that signed a SEND message, after the full signature.verify check (CGA, Key Hash,
    signature); raises VerifyError when it does not verify."""
    pkt, msg = icmp_of(frame)
    return signature.verify(frame, pkt, msg, 1024, True, known_key).key


def decrypt_reply(frame, hke_priv, at=None):
    """The handover key in a PrRtAdv's HK Reply, decrypted with the HKE private key (key_len(AT) octets)."""
    r = hk_reply(frame)
    n = KEY_LEN[r.at if at is None else at]
    return crypto.rsa_decrypt_implicit(hke_priv, bytes(r.enc_key), n)


def table_entry(router, address):
    """[address, fingerprint, AT, key, expires_ms] of the router's key for address, or None."""
    for e in router.snapshot()["keys"]:
        if e[0] == bytes(address):
            return e
    return None


# -- frame building --


def make_rtsolpr(ident, dst, hke_spki, at=1, wall_s=WALL_S, nonce=None, identifier=0x4242, hop_limit=255,
                 signer_key=None, src=None, params=None, ts=None, target_ap=None, omit=()):
    """A SEND-signed RtSolPr laid out as the mobile node sends it (interpretations §4-5):
    LLA, CGA, Timestamp, Nonce, Handover Key Request (unless hke_spki is None), RSA Signature.
    Option types listed in `omit` (CGA, Timestamp, Nonce) are left out. Room for frames past
    the 1500-octet MTU, which a router must handle like any other bytes (a long Nonce)."""
    buf = bytearray(2048)
    off = ipv6.encode_header(buf, 0, 0, 58, hop_limit, ident.pcoa if src is None else src, dst)
    icmp_off = off
    off = icmp.encode_rtsolpr(buf, off, identifier)
    if target_ap:
        off = ndopt.put_lla(buf, off, ndopt.LLA_NEW_AP, target_ap)
    else:
        off = ndopt.put_lla(buf, off, ndopt.LLA_WILDCARD, b"")
    if ndopt.OPT_CGA not in omit:
        off = ndopt.put_cga(buf, off, ident.params if params is None else params)
    if ndopt.OPT_TIMESTAMP not in omit:
        off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(wall_s) if ts is None else ts)
    if ndopt.OPT_NONCE not in omit:
        off = ndopt.put_nonce(buf, off, crypto.random_bytes(6) if nonce is None else nonce)
    if hke_spki is not None:
        off = ndopt.put_hk_request(buf, off, at, hke_spki)
    end = signature.sign(ident.cga_key if signer_key is None else signer_key, buf, 0, icmp_off, off)
    return bytes(buf[:end])


def resign(frame, key, replace=None, src=None):
    """The SEND message `frame` with its RSA Signature option dropped, each other option passed
    through replace(type, raw option bytes) -> new raw bytes (b"" drops it), optionally a new
    IPv6 source, and signed again with `key`: a forgery by whoever holds that key."""
    pkt, msg = icmp_of(frame)
    buf = bytearray(1500)
    buf[: msg.opts_off] = frame[: msg.opts_off]
    if src is not None:
        buf[pkt.ip_off + 8 : pkt.ip_off + 24] = src
    off = msg.opts_off
    for t, o, n in msg.options:
        if t == ndopt.OPT_RSA_SIG:
            break
        raw = bytes(frame[o : o + n])
        if replace is not None:
            raw = replace(t, raw)
        buf[off : off + len(raw)] = raw
        off += len(raw)
    end = signature.sign(key, buf, pkt.ip_off, pkt.payload_off, off)
    return bytes(buf[:end])


def hk_reply_option(at, lifetime, enc_key):
    return option(ndopt.OPT_HK_REPLY, ndopt.put_hk_reply, at, lifetime, enc_key)


def badf_mac(at, key, frame, mh_off, auth_off, coa, par):
    """First(authlen, HMAC(key, CoA | PAR | MH data with checksum zero, through the BADF SPI)):
    interpretations §2, computed here independently of the engines."""
    data = bytearray(frame[mh_off:auth_off])
    data[4] = 0
    data[5] = 0
    msg = bytes(coa) + bytes(par) + bytes(data)
    full = crypto.hmac_sha1(key, msg) if at == 0 else crypto.hmac_sha256(key, msg)
    return full[: AUTH_LEN[at]]


def make_fbu(key, at, pcoa, ncoa, par, seq, predictive=True, lifetime=30, hao=None):
    """An FBU from the mobile node with a BADF made from `key`: predictive (source PCoA, Alternate
    CoA = NCoA) or reactive (source NCoA); the Home Address option carries hao (default the PCoA)."""
    buf = bytearray(256)
    off = ipv6.encode_header(buf, 0, 0, 60, 64, pcoa if predictive else ncoa, par)
    off = ipv6.encode_dest_opts_hao(buf, off, mh.IPPROTO_MH, pcoa if hao is None else hao)
    mh_off = off
    alen = AUTH_LEN[at]
    end, auth_off = mh.encode_fbu(buf, off, seq, mh.FBU_A | mh.FBU_H, lifetime, alen, ncoa if predictive else None)
    buf[auth_off : auth_off + alen] = badf_mac(at, key, buf, mh_off, auth_off, ncoa, par)
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def badf_ok(frame, key, at, coa, par=None):
    """True when the BADF of an FBU/FBack verifies with `key` for CoA `coa` and PAR `par`
    (default: the FBU's destination, the FBack's source), with SPI 0 and Option Length 4 + authlen."""
    pkt, m = mh_of(frame)
    if m.badf_spi != 0 or m.badf_len_field != 4 + AUTH_LEN[at] or m.auth_len != AUTH_LEN[at]:
        return False
    if par is None:
        par = pkt.dst if m.mh_type == mh.MH_FBU else pkt.src
    got = bytes(frame[m.auth_off : m.auth_off + m.auth_len])
    return got == badf_mac(at, key, frame, m.off, m.auth_off, coa, par)


def rsa_raw_encrypt(pub, block):
    """c = block^e mod n for a k-octet block: a ciphertext of any padding, valid or not."""
    c = pow(int.from_bytes(block, "big"), pub.e, pub.n)
    return c.to_bytes(pub.size, "big")


def public_from_spki(spki):
    return RsaPublicKey.from_spki(bytes(spki))


class Spy:
    """Records calls of handoverkey.crypto functions (name, positional args, result) while installed.

    The backend is chosen first: its first call would otherwise rebind the module's names and
    remove the wrappers. Always call restore() (try/finally)."""

    def __init__(self, *names):
        crypto.backend_name()
        self.calls = []
        self._saved = []
        for n in names:
            orig = getattr(crypto, n)
            self._saved.append((n, orig))
            setattr(crypto, n, self._wrap(n, orig))

    def _wrap(self, name, orig):
        calls = self.calls

        def spy(*args, **kw):
            r = orig(*args, **kw)
            calls.append((name, args, r))
            return r

        return spy

    def restore(self):
        for n, orig in self._saved:
            setattr(crypto, n, orig)

    def of(self, name):
        return [c for c in self.calls if c[0] == name]
