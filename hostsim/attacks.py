"""Attack scenarios against the RFC 5269 engines in the simulated world (`hostsim attacks`).

Each scenario builds the world of the demo (PAR, NAR, MN from the committed fixtures), sets up
the legitimate situation (normally: the MN attached, a handover key shared with the PAR),
snapshots the legitimate key state of both engines, injects attack frames crafted here with
the firmware's own wire codecs and SEND signing, and then decides from the engines' events,
the frames the engines sent and their snapshots (never from a hard-coded answer):

  rejected               the attack achieved nothing: no key provisioned for it (no
                         key-provisioned event, no Handover Key Reply sent by the PAR, no entry
                         for an attacker address), no forwarding change (no fbu-accepted, no
                         FBack, same forwarding table), no key stored at the MN (no key-stored
                         event, no new key in its store).
  legitimate_key_intact  the legitimate key record at the PAR and at the MN is the same,
                         octet for octet, before and after the attack, the two still agree, and
                         the legitimate MN can still complete a handover (FBU accepted, FBack
                         verified) afterwards.

Every attack frame is also a "check": the event it is expected to cause at the node it targets
(for example rtsolpr-rejected:signature at the PAR). A mismatch means the frame was stopped by
some other check than the one the scenario is about, so the harness did not test what it claims.

Attacks that need an answer to race the real PAR (a forged PrRtAdv for an outstanding RtSolPr,
a forged CPA) take the PAR off the link while the mobile node solicits: that is the attacker who
jams or outruns the router. Some MN-side frames are signed with the PAR's own certified key
(harness privilege, said in the check's text) so that only the one check under test stands
between the frame and a stored key.

Runs the engines in-process (target cpython) or in MicroPython over a pipe (target micropython);
the attacker always runs here on CPython.
"""

import functools
import time
from contextlib import contextmanager

from handoverkey import algorithms, crypto
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.errors import DecodeError
from handoverkey.send import cga, cga_gen, signature
from handoverkey.wire import icmp, ipv6, mh, ndopt

from .sim import solicited_node
from .world import LINK_LOCAL_PREFIX, NAR_PREFIX, PAR_PREFIX, Plan, World, addr, cert, private_key, subject_name

PAR_LINK = "par-link"
FLOOD_CAPACITY = 16
# Short enough to run out in simulated time, long enough that the MN's refresh (at 90 %) does not
# start before the legitimate attach has settled.
EXPIRY_LIFETIME_S = 60
FLOOD_SIZE = {"cpython": 64, "micropython": 64}
# Attacker key pairs: (CGA key, handover key encryption key of the same size).
ATTACKER = ("rsa1024_c", "rsa1024_b")
FLOOD_KEYS = (("rsa1024_a", "rsa1024_b"), ("rsa1024_b", "rsa1024_c"), ("rsa1024_c", "rsa1024_a"))
ROGUE_ROUTER_KEY = "rsa1024_c"
PAR_KEY = "rsa2048_b"  # the PAR's certified key (tests/fixtures/pki/README.txt)
NAR_KEY = "rsa2048_c"
ATTACKER_KEY_BYTE = 0xA5  # a key an attacker would like the MN to store: A5 A5 ...


class ScenarioError(RuntimeError):
    """The scenario could not set up the legitimate situation (not a verdict on the attack)."""


# ---- attacker identities ------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def attacker_cga(key_name, prefix, index=0):
    """(address, CGA Parameters) of a fixture key on a prefix: Sec 0, a modifier per index, so any
    number of distinct valid CGAs of one key cost one hash each."""
    spki = private_key(key_name).public.spki()
    modifier = b"\xa7\x7a" + bytes(10) + index.to_bytes(4, "big")
    return cga_gen.cga_generate(spki, addr(prefix)[:8], sec=0, modifier=modifier)


@functools.lru_cache(maxsize=None)
def generated_key(bits):
    """An RSA key made once per run (a 2048-bit HKE key pair of an attacker who spoofs the MN)."""
    from .keys import generate

    return generate(bits)


def attacker_key(at):
    return bytes([ATTACKER_KEY_BYTE]) * algorithms.key_len(at)


# ---- frames -------------------------------------------------------------------------------


def _finish_signed(buf, icmp_off, off, signer, key_hash=None, sig=None):
    """Append the RSA Signature option: signed by `signer` (Key Hash of `signer` unless key_hash
    is given), or carrying `sig` as it is; then length and checksum."""
    if key_hash is None and sig is None:
        end = signature.sign(signer, buf, 0, icmp_off, off)
        return bytes(buf[:end])
    if sig is None:
        sig = crypto.rsa_sign(signer, signature.signed_data(bytes(buf[8:24]), bytes(buf[24:40]), buf, icmp_off, off))
    if key_hash is None:
        key_hash = signer.public.key_hash()
    end = ndopt.put_rsa_sig(buf, off, key_hash, sig)
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def craft_rtsolpr(src, dst, params, signer, wall_s, hke_spki, at=1, nonce=None, ts_delta_s=0, with_ts=True,
                  with_nonce=True, raw_before_request=b"", key_hash=None, sig=None):
    """An RtSolPr laid out as the MN lays it out (LLA, CGA, Timestamp, Nonce, HK Request, RSA Sig),
    with the knobs an attacker turns."""
    buf = bytearray(1500)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, src, dst)
    icmp_off = off
    nonce = nonce or crypto.random_bytes(6)
    off = icmp.encode_rtsolpr(buf, off, (nonce[0] << 8) | nonce[1])
    off = ndopt.put_lla(buf, off, ndopt.LLA_WILDCARD, b"")
    off = ndopt.put_cga(buf, off, params)
    if with_ts:
        off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(wall_s + ts_delta_s))
    if with_nonce:
        off = ndopt.put_nonce(buf, off, nonce)
    buf[off : off + len(raw_before_request)] = raw_before_request
    off += len(raw_before_request)
    off = ndopt.put_hk_request(buf, off, at, hke_spki)
    return _finish_signed(buf, icmp_off, off, signer, key_hash, sig)


def craft_prrtadv(src, dst, params, signer, wall_s, ident, nonce, reply=None, ts_delta_s=0, with_ts=True,
                  with_nonce=True, raw_before_reply=b"", key_hash=None, sig=None):
    """A PrRtAdv (code 2) laid out as the router lays it out; reply = (at, lifetime, ciphertext)."""
    buf = bytearray(1500)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, src, dst)
    icmp_off = off
    off = icmp.encode_prrtadv(buf, off, icmp.PRRTADV_NO_NEW_ROUTER, ident)
    off = ndopt.put_cga(buf, off, params)
    if with_ts:
        off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(wall_s + ts_delta_s))
    if with_nonce:
        off = ndopt.put_nonce(buf, off, nonce)
    buf[off : off + len(raw_before_reply)] = raw_before_reply
    off += len(raw_before_reply)
    if reply is not None:
        off = ndopt.put_hk_reply(buf, off, *reply)
    return _finish_signed(buf, icmp_off, off, signer, key_hash, sig)


def craft_cpa(src, dst, ident, total, component, cert_der, anchor_names=()):
    buf = bytearray(3000)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, src, dst)
    off = icmp.encode_cpa(buf, off, ident, total, component)
    for name in anchor_names:
        off = ndopt.put_trust_anchor(buf, off, ndopt.NAME_DER, name)
    off = ndopt.put_certificate(buf, off, ndopt.CERT_X509, cert_der)
    ipv6.finish(buf, 0, off)
    return bytes(buf[:off])


def craft_fbu(src, par, pcoa, ncoa, seq, at=1, key=None, auth_len=None):
    """An FBU with HAO = pcoa and Alternate CoA = ncoa; BADF with the MAC under `key`, or random."""
    buf = bytearray(256)
    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_DEST_OPTS, 64, src, par)
    off = ipv6.encode_dest_opts_hao(buf, off, mh.IPPROTO_MH, pcoa)
    mh_off = off
    alen = auth_len or algorithms.auth_len(at)
    end, auth_off = mh.encode_fbu(buf, off, seq, mh.FBU_A | mh.FBU_H, 30, alen, ncoa)
    if key is None:
        mac = crypto.random_bytes(alen)
    else:
        mac = algorithms.mac(at, key, *mh.badf_mac_parts(buf, mh_off, auth_off, ncoa, par))
    mh.set_authenticator(buf, auth_off, alen, mac)
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def refinish(frame):
    """Recompute payload length and checksum of an edited frame (a MITM keeps them valid)."""
    buf = bytearray(frame)
    ipv6.finish(buf, 0, len(buf))
    return bytes(buf)


def icmp_of(frame):
    """(pkt, msg) of an RtSolPr / PrRtAdv / CPS / CPA, else (None, None)."""
    try:
        pkt = ipv6.decode_packet(frame)
        if pkt.next_header != 58 or frame[pkt.payload_off] not in (icmp.ICMP_FMIPV6, icmp.ICMP_CPS, icmp.ICMP_CPA):
            return None, None
        return pkt, icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
    except DecodeError:
        return None, None


def mh_of(frame):
    try:
        pkt = ipv6.decode_packet(frame)
        if pkt.next_header != mh.IPPROTO_MH:
            return None, None
        return pkt, mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
    except DecodeError:
        return None, None


class Solicit:
    """What an on-link attacker learns from a captured RtSolPr."""

    def __init__(self, frame):
        pkt, msg = icmp_of(frame)
        self.frame = bytes(frame)
        self.src = bytes(pkt.src)
        self.ident = msg.identifier
        o = msg.find(ndopt.OPT_NONCE)
        self.nonce = bytes(ndopt.get_nonce(frame, o[1], o[2]))
        o = msg.find(ndopt.OPT_HK_REQUEST)
        req = ndopt.get_hk_request(frame, o[1], o[2])
        self.at = req.at
        self.at_off = o[1] + 3
        self.hke = RsaPublicKey.from_spki(bytes(req.spki))
        o = msg.find(ndopt.OPT_CGA)
        self.params = bytes(ndopt.get_cga(frame, o[1], o[2]).params)
        s = ndopt.get_rsa_sig(frame, msg.sig_off, msg.options[-1][2])
        self.key_hash = bytes(s.key_hash)
        self.sig = bytes(s.signature)


def is_rtsolpr(frame, src=None):
    pkt, msg = icmp_of(frame)
    return msg is not None and msg.type == icmp.ICMP_FMIPV6 and msg.subtype == icmp.SUB_RTSOLPR and (
        src is None or bytes(pkt.src) == src)


def is_prrtadv_from(frame, src):
    """True for a PrRtAdv sent from `src` (each one cost its sender an RSA signature)."""
    pkt, msg = icmp_of(frame)
    return msg is not None and msg.subtype == icmp.SUB_PRRTADV and bytes(pkt.src) == src


def hk_reply_of(frame):
    """(dst, HkReplyOption) when the frame is a PrRtAdv carrying a Handover Key Reply, else None."""
    pkt, msg = icmp_of(frame)
    if msg is None or msg.type != icmp.ICMP_FMIPV6 or msg.subtype != icmp.SUB_PRRTADV:
        return None
    o = msg.find(ndopt.OPT_HK_REPLY)
    if o is None:
        return None
    return bytes(pkt.dst), ndopt.get_hk_reply(frame, o[1], o[2])


def _norm(frame):
    # A routed copy differs only in the hop limit.
    return bytes(frame[:7]) + bytes(frame[8:])


# ---- the scene ----------------------------------------------------------------------------


class _RadioOff:
    """An engine whose output frames are lost; its events and timers are kept."""

    def __init__(self, engine):
        self.engine = engine

    def handle(self, frame, now_ms, wall_s):
        return [], self.engine.handle(frame, now_ms, wall_s)[1]

    def poll(self, now_ms, wall_s):
        return [], self.engine.poll(now_ms, wall_s)[1]

    def call(self, method, now_ms, wall_s, *args):
        return [], self.engine.call(method, now_ms, wall_s, *args)[1]

    def next_deadline(self):
        return self.engine.next_deadline()

    def snapshot(self):
        return self.engine.snapshot()


class Mark:
    def __init__(self, capture, events):
        self.capture = capture
        self.events = events


class Scene:
    """One world, one attack: snapshots, marks, injection, and the shared verdict rules."""

    def __init__(self, target, **plan_kw):
        self.target = target
        self.w = World(Plan(router_target=target, mobile_target=target, **plan_kw))
        self.net = self.w.net
        self.par = self.net.nodes["PAR"].engine
        self.mn = self.net.nodes["MN"].engine
        self.checks = []
        self.notes = []
        self.injected = set()
        self.attacker_hke = []  # private keys an attacker would decrypt a stolen HK Reply with
        self.attacker_addrs = set()
        self.legit_rtsolpr = None
        self.legit_prrtadv = None
        self.par_params = bytes.fromhex(self.w.par_cfg["cga_params"])
        self.nar_params = bytes.fromhex(self.w.nar_cfg["cga_params"])
        self.nar_ll = bytes.fromhex(self.w.nar_cfg["link_local"])
        self.pcoa_params = bytes.fromhex(self.w.mn_cfg["pcoa_params"])

    def close(self):
        self.w.close()

    # -- time, marks, snapshots --

    @property
    def wall_s(self):
        return self.net.wall_s

    def advance(self, ms):
        """Let `ms` of simulated time pass (timers fire as they fall due)."""
        target = self.net.now_ms + ms
        self.net.run(max_ms=ms)
        if self.net.now_ms < target:
            self.net.now_ms = target

    def settle(self, ms=30000):
        self.net.run(max_ms=ms)

    def snap(self):
        return {"par": self.par.snapshot(), "mn": self.mn.snapshot(), "now_ms": self.net.now_ms}

    def mark(self):
        return Mark(len(self.net.capture), {n: len(node.events) for n, node in self.net.nodes.items()})

    def events(self, mark, node, kind=None):
        evs = self.net.nodes[node].events[mark.events.get(node, 0):]
        return [(t, k, f) for t, k, f in evs if kind is None or k == kind]

    def frames(self, mark):
        return self.net.capture[mark.capture:]

    def sent(self, mark):
        """Frames the engines sent since mark (the attacker's own injections left out)."""
        return [(t, link, f) for t, link, f in self.frames(mark) if _norm(f) not in self.injected]

    @contextmanager
    def offline(self, name):
        """Take a node off the network: it keeps its timers, but hears nothing and what it sends is
        lost (the simulator would otherwise route its unicast, link-local included, by owner)."""
        node = self.net.nodes[name]
        link, addrs, engine = node.link, list(node.addresses), node.engine
        self.net.move(name, "offline-" + name, [])
        node.engine = _RadioOff(engine)
        try:
            yield
        finally:
            node.engine = engine
            self.net.move(name, link, addrs)

    # -- injection --

    def inject(self, frame, link=PAR_LINK):
        self.injected.add(_norm(frame))
        self.net.inject(link, frame)

    def probe(self, variant, frames, node, expect, settle_ms=5):
        """Inject attack frame(s), let the network run briefly, and record which checks fired at `node`."""
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        m = self.mark()
        for f in frames:
            self.inject(f)
        self.net.run(max_ms=settle_ms)
        seen = []
        for _, kind, fields in self.events(m, node):
            reason = fields.get("reason") if isinstance(fields, dict) else None
            seen.append(kind + (":" + reason if reason else ""))
        ok = any(s in expect for s in seen)
        self.checks.append({"variant": variant, "node": node, "expected": sorted(expect), "observed": seen, "ok": ok})

    # -- the legitimate situation --

    def attach_legit(self):
        m = self.mark()
        if not self.w.attach():
            raise ScenarioError("the legitimate mobile node did not get a handover key")
        for _, _, f in self.frames(m):
            if self.legit_rtsolpr is None and is_rtsolpr(f, self.w.pcoa):
                self.legit_rtsolpr = Solicit(f)
            if self.legit_prrtadv is None and hk_reply_of(f) is not None:
                self.legit_prrtadv = f

    def mn_solicit(self):
        """Make the MN send an RtSolPr now (a key refresh) and return what the attacker sniffed."""
        m = self.mark()
        self.net.call("MN", "refresh")
        self.net.run(max_ms=1)
        for _, _, f in self.frames(m):
            if is_rtsolpr(f, self.w.pcoa):
                return Solicit(f)
        raise ScenarioError("the mobile node sent no RtSolPr")

    def legit_entries(self, snap):
        """(PAR record, MN record) of the legitimate MN's PCoA, each None when absent."""
        pcoa = self.w.pcoa.hex()
        par = [e for e in snap["par"]["keys"] if e[0] == pcoa]
        mn = [e for e in snap["mn"]["keys"] if e[0] == pcoa]
        return (par[0] if par else None), (mn[0] if mn else None)

    def legit_handover(self):
        """The legitimate MN hands over (predictive FBU from the PAR's link); failures as text."""
        m = self.mark()
        self.w.handover("predictive")
        return self._handover_failures(m)

    def _handover_failures(self, m):
        pcoa, ncoa = self.w.pcoa.hex(), self.w.ncoa.hex()
        acc = [f for _, _, f in self.events(m, "PAR", "fbu-accepted") if f["pcoa"] == pcoa and f["ncoa"] == ncoa]
        fails = []
        if not acc:
            why = [f.get("reason") for _, _, f in self.events(m, "PAR", "fbu-rejected")]
            fails.append("legitimate FBU not accepted (PAR: %s)" % (", ".join(map(str, why)) or "no answer"))
        elif not self.events(m, "MN", "fback-accepted"):
            fails.append("legitimate MN did not verify the FBack")
        return fails

    # -- verdicts --

    def effects(self, m, before, after):
        """What the attack achieved between mark m and the snapshot `after` (empty: nothing)."""
        out = []
        n = len(self.events(m, "PAR", "key-provisioned"))
        if n:
            out.append("PAR provisioned %d key(s)" % n)
        legit_par, _ = self.legit_entries(before)
        for _, _, f in self.sent(m):
            r = hk_reply_of(f)
            if r is None:
                continue
            dst, reply = r
            out.append("PAR sent a Handover Key Reply to %s" % dst.hex())
            for k in self.attacker_hke:
                if k.size != len(reply.enc_key):
                    continue
                got = crypto.rsa_decrypt_implicit(k, bytes(reply.enc_key), algorithms.key_len(reply.at))
                if legit_par is not None and got.hex() == legit_par[3]:
                    out.append("the attacker decrypted the legitimate handover key")
        for a in sorted(self.attacker_addrs):
            if any(e[0] == a.hex() for e in after["par"]["keys"]):
                out.append("PAR holds a key for attacker address %s" % a.hex())
        n = len(self.events(m, "PAR", "fbu-accepted"))
        if n:
            out.append("PAR accepted %d FBU(s)" % n)
        if after["par"]["forwarding"] != before["par"]["forwarding"]:
            out.append("PAR forwarding changed")
        for _, _, f in self.sent(m):
            pkt, msg = mh_of(f)
            if msg is not None and msg.mh_type == mh.MH_FBACK:
                out.append("PAR sent an FBack")
                break
        n = len(self.events(m, "MN", "key-stored"))
        if n:
            out.append("MN stored %d key(s)" % n)
        old = set(e[3] for e in before["mn"]["keys"])
        for e in after["mn"]["keys"]:
            if e[3] not in old:
                out.append("MN holds a new key%s" % (" (the attacker's)" if e[3] == attacker_key(e[2]).hex() else ""))
        return out

    def unchanged(self, before, after, whole_table=True):
        """Failures of 'the legitimate key records are octet-identical and agree' (and, with
        whole_table, 'no record at the PAR changed at all')."""
        fails = []
        par0, mn0 = self.legit_entries(before)
        if par0 is None or mn0 is None:
            return ["no legitimate key before the attack"]
        par1, mn1 = self.legit_entries(after)
        if par1 != par0:
            fails.append("PAR record of the legitimate MN %s" % ("gone" if par1 is None else "changed"))
        if whole_table and after["par"]["keys"] != before["par"]["keys"]:
            fails.append("PAR key table changed")
        if after["par"]["forwarding"] != before["par"]["forwarding"]:
            fails.append("PAR forwarding changed")
        if mn1 != mn0 or after["mn"]["keys"] != before["mn"]["keys"]:
            fails.append("MN key store changed")
        if after["mn"]["router_certified"] != before["mn"]["router_certified"]:
            fails.append("MN lost its certified router key")
        if par0[3] != mn0[3] or par0[2] != mn0[2]:
            fails.append("PAR and MN keys differ")
        return fails

    def result(self, name, rejected_fails, intact_fails, summary):
        n_ok = sum(1 for c in self.checks if c["ok"])
        bits = [summary] if summary else []
        if self.checks:
            bits.append("%d/%d attack frames stopped by the expected check" % (n_ok, len(self.checks)))
        for c in self.checks:
            if not c["ok"]:
                bits.append("%s: expected %s, saw %s" % (c["variant"], "|".join(c["expected"]),
                                                          ",".join(c["observed"]) or "nothing"))
        bits.extend("ATTACK EFFECT: " + f for f in rejected_fails)
        bits.extend("LEGIT KEY: " + f for f in intact_fails)
        bits.extend(self.notes)
        return {
            "name": name,
            "target": self.target,
            "rejected": not rejected_fails,
            "legitimate_key_intact": not intact_fails,
            "checks_ok": all(c["ok"] for c in self.checks),
            "detail": "; ".join(bits),
            "checks": self.checks,
        }


# ---- scenario templates -------------------------------------------------------------------


def standard(sc, name, summary, router=None, mn=None, post=None):
    """Attach the legitimate MN, then run the attack in up to three phases and judge:

    router(sc)     -> [(variant, frames, expect)] injected at the PAR while everything is online;
    mn(sc, sol)    -> the same, at the MN, while it waits for the answer to an RtSolPr `sol`
                      that the attacker sniffed and the PAR (taken off the link) never heard;
    post(sc, sol)  -> at the PAR right after it is back, before the MN's retransmission.
    Then the legitimate MN's RtSolPr retry must get the same key back and a handover must work."""
    sc.attach_legit()
    before = sc.snap()
    m = sc.mark()
    for variant, frames, expect in (router(sc) if router else ()):
        sc.probe(variant, frames, "PAR", expect)
    sol = None
    if mn or post:
        with sc.offline("PAR"):
            sol = sc.mn_solicit()
            for variant, frames, expect in (mn(sc, sol) if mn else ()):
                sc.probe(variant, frames, "MN", expect)
        for variant, frames, expect in (post(sc, sol) if post else ()):
            sc.probe(variant, frames, "PAR", expect)
    after = sc.snap()
    rejected = sc.effects(m, before, after)
    intact = sc.unchanged(before, after)
    if sol is not None:
        m2 = sc.mark()
        sc.settle()
        reused = [f for _, _, f in sc.events(m2, "PAR", "key-provisioned") if f["reused"]]
        par2, mn2 = sc.legit_entries(sc.snap())
        par0, mn0 = sc.legit_entries(before)
        if not reused or par2 != par0 or mn2 is None or mn2[3] != mn0[3]:
            intact.append("the legitimate RtSolPr retry did not get the same key back")
    intact += sc.legit_handover()
    return sc.result(name, rejected, intact, summary)


# ---- the attacks --------------------------------------------------------------------------

ATTACKS = []


def attack(name, summary):
    def reg(fn):
        ATTACKS.append((name, fn, summary))
        return fn

    return reg


def _attacker(sc, index=0, prefix=PAR_PREFIX):
    """The on-link attacker's own identity: a valid CGA of its key, its HKE key pair."""
    cga_name, hke_name = ATTACKER
    a, params = attacker_cga(cga_name, prefix, index)
    sc.attacker_addrs.add(a)
    hke = private_key(hke_name)
    sc.attacker_hke.append(hke)
    return a, params, private_key(cga_name), hke.public.spki()


def _spoofer_hke(sc):
    """An HKE key pair the size of the legitimate MN's CGA key, so that a spoofed request for the
    legitimate PCoA would pass the HKE parameter check if the SEND checks let it through."""
    k = generated_key(sc.w.plan.key_bits)
    sc.attacker_hke.append(k)
    return k.public.spki()


def _legit_key_hash(sc):
    return RsaPublicKey.from_spki(bytes(cga.parse_params(sc.pcoa_params).key)).key_hash()


def _prr(sc, sol, signer_name=PAR_KEY, src=None, params=None, at=None, **kw):
    """A PrRtAdv answering `sol` with an attacker-chosen key encrypted to the MN's HKE key."""
    at = sol.at if at is None else at
    klen = algorithms.key_len(at) if algorithms.is_supported(at) else 32
    reply = (at, 43200, crypto.rsa_encrypt(sol.hke, bytes([ATTACKER_KEY_BYTE]) * klen))
    nonce = kw.pop("nonce", sol.nonce)
    return craft_prrtadv(src or sc.w.par_ll, sc.w.pcoa, params or sc.par_params, private_key(signer_name),
                         sc.wall_s, sol.ident, nonce, reply=reply, **kw)


@attack("forged-signature", "RtSolPr for the legitimate PCoA, and a PrRtAdv, with a forged RSA signature")
def a_forged_signature(sc):
    def router(sc):
        hke = _spoofer_hke(sc)
        kh = _legit_key_hash(sc)
        k = generated_key(sc.w.plan.key_bits)
        bits = sc.w.plan.key_bits // 8
        yield ("random signature under the legitimate Key Hash",
               craft_rtsolpr(sc.w.pcoa, sc.w.par_ll, sc.pcoa_params, None, sc.wall_s, hke,
                             key_hash=kh, sig=crypto.random_bytes(bits)), {"rtsolpr-rejected:signature"})
        yield ("signature lifted from the captured legitimate RtSolPr",
               craft_rtsolpr(sc.w.pcoa, sc.w.par_ll, sc.pcoa_params, None, sc.wall_s, hke,
                             key_hash=sc.legit_rtsolpr.key_hash, sig=sc.legit_rtsolpr.sig),
               {"rtsolpr-rejected:signature"})
        yield ("signed by another key of the same size, labelled with the legitimate Key Hash",
               craft_rtsolpr(sc.w.pcoa, sc.w.par_ll, sc.pcoa_params, k, sc.wall_s, hke, key_hash=kh),
               {"rtsolpr-rejected:signature"})

    def mn(sc, sol):
        par_kh = private_key(PAR_KEY).public.key_hash()
        yield ("PrRtAdv from the PAR's CGA with a random signature under the PAR's Key Hash",
               _prr(sc, sol, key_hash=par_kh, sig=crypto.random_bytes(256)), {"prrtadv-rejected:signature"})

    return standard(sc, "forged-signature", "", router, mn)


@attack("cga-mismatch", "CGA option that does not vouch for the source address")
def a_cga_mismatch(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        spoof_hke = _spoofer_hke(sc)
        yield ("legitimate PCoA as source, the attacker's own CGA parameters, signed by the attacker",
               craft_rtsolpr(sc.w.pcoa, sc.w.par_ll, params, key, sc.wall_s, spoof_hke), {"rtsolpr-rejected:cga"})
        bad = bytearray(params)
        bad[0] ^= 0x01  # another modifier: Hash1 no longer matches
        yield ("own address, modifier changed", craft_rtsolpr(a, sc.w.par_ll, bytes(bad), key, sc.wall_s, hke),
               {"rtsolpr-rejected:cga"})
        _, nar_params = attacker_cga(ATTACKER[0], NAR_PREFIX, 0)
        yield ("own address, CGA parameters of another subnet prefix",
               craft_rtsolpr(a, sc.w.par_ll, nar_params, key, sc.wall_s, hke), {"rtsolpr-rejected:cga"})

    def mn(sc, sol):
        rogue_ll, rogue_params = attacker_cga(ROGUE_ROUTER_KEY, LINK_LOCAL_PREFIX, 1)
        yield ("PrRtAdv from the PAR's address with a rogue's CGA parameters, signed by the rogue",
               _prr(sc, sol, signer_name=ROGUE_ROUTER_KEY, params=rogue_params), {"prrtadv-rejected:cga"})

    return standard(sc, "cga-mismatch", "", router, mn)


@attack("key-hash-mismatch", "Key Hash naming a key other than the one in the CGA option")
def a_key_hash_mismatch(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        yield ("legitimate PCoA and CGA parameters, signed by the attacker under its own Key Hash",
               craft_rtsolpr(sc.w.pcoa, sc.w.par_ll, sc.pcoa_params, key, sc.wall_s, _spoofer_hke(sc)),
               {"rtsolpr-rejected:key-hash"})
        yield ("own CGA, Key Hash of the legitimate MN's key",
               craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke, key_hash=_legit_key_hash(sc)),
               {"rtsolpr-rejected:key-hash"})

    def mn(sc, sol):
        yield ("PrRtAdv with the PAR's CGA parameters, signed by a rogue key under its own Key Hash",
               _prr(sc, sol, signer_name=ROGUE_ROUTER_KEY, key_hash=private_key(ROGUE_ROUTER_KEY).public.key_hash()),
               {"prrtadv-rejected:key-hash"})

    return standard(sc, "key-hash-mismatch", "", router, mn)


@attack("replayed-rtsolpr", "the legitimate MN's captured RtSolPr re-injected at once, 60 s and 700 s later")
def a_replayed_rtsolpr(sc):
    def router(sc):
        f = sc.legit_rtsolpr.frame
        yield ("replayed at once", f, {"rtsolpr-rejected:replay"})
        sc.advance(60000)
        yield ("replayed 60 s later", f, {"rtsolpr-rejected:replay", "rtsolpr-rejected:timestamp"})
        sc.advance(640000)
        yield ("replayed 700 s later (nonce forgotten, timestamp window)", f, {"rtsolpr-rejected:timestamp"})

    return standard(sc, "replayed-rtsolpr", "", router)


@attack("stale-timestamp", "signed RtSolPr / PrRtAdv with a timestamp 600 s old (or ahead)")
def a_stale_timestamp(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        yield ("RtSolPr 600 s old", craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke, ts_delta_s=-600),
               {"rtsolpr-rejected:timestamp"})
        yield ("RtSolPr 600 s ahead", craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke, ts_delta_s=600),
               {"rtsolpr-rejected:timestamp"})

    def mn(sc, sol):
        yield ("PrRtAdv 600 s old, signed with the PAR's certified key (harness privilege)",
               _prr(sc, sol, ts_delta_s=-600), {"prrtadv-rejected:timestamp"})

    return standard(sc, "stale-timestamp", "", router, mn)


@attack("missing-timestamp", "signed RtSolPr / PrRtAdv without a Timestamp option")
def a_missing_timestamp(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        yield ("RtSolPr without Timestamp", craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke, with_ts=False),
               {"rtsolpr-rejected:no-timestamp"})

    def mn(sc, sol):
        yield ("PrRtAdv without Timestamp, signed with the PAR's certified key (harness privilege)",
               _prr(sc, sol, with_ts=False), {"prrtadv-rejected:no-timestamp"})

    return standard(sc, "missing-timestamp", "", router, mn)


@attack("missing-nonce", "signed RtSolPr / PrRtAdv without a Nonce option")
def a_missing_nonce(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        yield ("RtSolPr without Nonce", craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke, with_nonce=False),
               {"rtsolpr-rejected:no-nonce"})

    def mn(sc, sol):
        yield ("PrRtAdv without Nonce, signed with the PAR's certified key (harness privilege)",
               _prr(sc, sol, with_nonce=False), {"prrtadv-rejected:no-nonce"})

    return standard(sc, "missing-nonce", "", router, mn)


_ZERO_HK_REQUEST = bytes([ndopt.OPT_HK_REQUEST, 0, 0, 0, 0, 0, 0, 0])
_ZERO_HK_REPLY = bytes([ndopt.OPT_HK_REPLY, 0, 0, 0, 0, 0, 0, 0])


@attack("zero-length-option", "an option with Length 0 (RFC 5269 §4: the message must be discarded)")
def a_zero_length_option(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        yield ("RtSolPr with a zero-length HK Request before the real one",
               craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke, raw_before_request=_ZERO_HK_REQUEST),
               {"dropped:decode"})
        yield ("RtSolPr with a zero-length CGA option",
               craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke,
                             raw_before_request=bytes([ndopt.OPT_CGA, 0, 0, 0, 0, 0, 0, 0])), {"dropped:decode"})

    def mn(sc, sol):
        yield ("PrRtAdv with a zero-length HK Reply, signed with the PAR's certified key (harness privilege)",
               _prr(sc, sol, raw_before_reply=_ZERO_HK_REPLY), {"dropped:decode"})

    return standard(sc, "zero-length-option", "", router, mn)


def _cut(frame, n):
    """Drop the last n octets of a frame, keeping length and checksum valid."""
    return refinish(frame[:-n])


def _overlong(frame, opt_type):
    """Make the first option of opt_type claim more octets than the message has left."""
    buf = bytearray(frame)
    pkt, msg = icmp_of(frame)
    o = msg.find(opt_type)
    buf[o[1] + 1] = 0xFF
    return refinish(buf)


@attack("truncated-option", "an option that runs past the end of the message")
def a_truncated_option(sc):
    def router(sc):
        a, params, key, hke = _attacker(sc)
        f = craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke)
        yield ("RtSolPr cut inside the RSA Signature option", _cut(f, 40), {"dropped:decode"})
        f = craft_rtsolpr(a, sc.w.par_ll, params, key, sc.wall_s, hke)
        yield ("RtSolPr whose CGA option claims 2040 octets", _overlong(f, ndopt.OPT_CGA), {"dropped:decode"})

    def mn(sc, sol):
        yield ("PrRtAdv whose HK Reply claims 2040 octets (PAR's key, harness privilege)",
               _overlong(_prr(sc, sol), ndopt.OPT_HK_REPLY), {"dropped:decode"})
        yield ("PrRtAdv cut inside the RSA Signature option (PAR's key, harness privilege)",
               _cut(_prr(sc, sol), 100), {"dropped:decode"})

    return standard(sc, "truncated-option", "", router, mn)


@attack("unknown-nonce", "PrRtAdv whose nonce the MN never sent, while it waits for an answer")
def a_unknown_nonce(sc):
    def mn(sc, sol):
        yield ("the PAR's genuine PrRtAdv from the first exchange, replayed", sc.legit_prrtadv,
               {"prrtadv-rejected:unknown-nonce"})
        yield ("PrRtAdv with a fresh random nonce and an attacker-chosen key, signed with the PAR's certified key "
               "(harness privilege)", _prr(sc, sol, nonce=crypto.random_bytes(6)), {"prrtadv-rejected:unknown-nonce"})

    return standard(sc, "unknown-nonce", "", None, mn)


@attack("uncertified-router-key", "PrRtAdv with a valid CGA for its source, signed by a non-certified key")
def a_uncertified_router_key(sc):
    def mn(sc, sol):
        rogue_ll, rogue_params = attacker_cga(ROGUE_ROUTER_KEY, LINK_LOCAL_PREFIX, 1)
        yield ("a stranger router's own link-local CGA and key",
               _prr(sc, sol, signer_name=ROGUE_ROUTER_KEY, src=rogue_ll, params=rogue_params),
               {"prrtadv-rejected:uncertified"})
        yield ("the NAR's link-local CGA and its key, certified for another prefix (harness privilege)",
               _prr(sc, sol, signer_name=NAR_KEY, src=sc.nar_ll, params=sc.nar_params),
               {"prrtadv-rejected:uncertified"})

    return standard(sc, "uncertified-router-key", "", None, mn)


@attack("bid-down-at", "a compromised certified router answering AT 1 with AT 0; a MITM rewriting the RtSolPr's AT")
def a_bid_down_at(sc):
    def mn(sc, sol):
        if sol.at != 1:
            raise ScenarioError("the mobile node did not ask for AT 1")
        yield ("PrRtAdv with AT 0 signed with the PAR's certified key (a compromised router)", _prr(sc, sol, at=0),
               {"prrtadv-rejected:bid-down"})
        yield ("PrRtAdv with an unassigned AT 5 signed with the PAR's certified key", _prr(sc, sol, at=5),
               {"prrtadv-rejected:unsupported-at"})

    def post(sc, sol):
        f = bytearray(sol.frame)
        f[sol.at_off] = (0 << 4) | (f[sol.at_off] & 0x0F)
        yield ("the MN's RtSolPr with AT rewritten 1 -> 0 in flight (checksum fixed)", refinish(f),
               {"rtsolpr-rejected:signature"})

    return standard(sc, "bid-down-at", "", None, mn, post)


def _fbu_attacks(sc):
    a, _, _, _ = _attacker(sc)
    k = crypto.random_bytes(32)
    yield ("FBU for the legitimate PCoA redirecting to the attacker, random authenticator",
           craft_fbu(a, sc.w.par_address, sc.w.pcoa, a, 1), {"fbu-rejected:mac"})
    yield ("the same with a MAC under a key of the attacker's choosing",
           craft_fbu(a, sc.w.par_address, sc.w.pcoa, a, 2, key=k), {"fbu-rejected:mac"})
    yield ("the same with a 12-octet (AT 0) authenticator",
           craft_fbu(a, sc.w.par_address, sc.w.pcoa, a, 3, at=0, key=k[:20]), {"fbu-rejected:badf"})


@attack("fbu-wrong-mac", "FBUs for the legitimate PCoA with a wrong authenticator; a MITM rewriting the Alternate CoA")
def a_fbu_wrong_mac(sc):
    sc.attach_legit()
    before = sc.snap()
    m = sc.mark()
    for variant, frames, expect in _fbu_attacks(sc):
        sc.probe(variant, frames, "PAR", expect)
    # MITM: the MN's own FBU is held back (PAR off the link), its Alternate CoA rewritten to the
    # attacker's address and forwarded once the PAR is back.
    with sc.offline("PAR"):
        m1 = sc.mark()
        sc.net.call("MN", "move", "predictive")
        sc.net.run(max_ms=1)
        fbu = None
        for _, _, f in sc.frames(m1):
            pkt, msg = mh_of(f)
            if msg is not None and msg.mh_type == mh.MH_FBU:
                fbu = f
        if fbu is None:
            raise ScenarioError("the mobile node sent no FBU")
    pkt, msg = mh_of(fbu)
    if msg.alt_coa is None or bytes(msg.alt_coa) != sc.w.ncoa:
        raise ScenarioError("no Alternate CoA in the MN's FBU")
    i = fbu.find(sc.w.ncoa, msg.off)
    buf = bytearray(fbu)
    buf[i : i + 16] = sorted(sc.attacker_addrs)[0]
    sc.probe("the MN's genuine FBU with its Alternate CoA rewritten to the attacker (checksum fixed)",
             refinish(buf), "PAR", {"fbu-rejected:mac"})
    after = sc.snap()
    rejected = sc.effects(m, before, after)
    intact = sc.unchanged(before, after)
    # The MN retransmits its untouched FBU: it must be accepted, and the FBack verified.
    m2 = sc.mark()
    sc.settle(10000)
    intact += sc._handover_failures(m2)
    return sc.result("fbu-wrong-mac", rejected, intact, "legitimate FBU retransmission accepted afterwards")


@attack("fbu-unknown-pcoa", "FBUs whose Home Address has no handover key at the PAR")
def a_fbu_unknown_pcoa(sc):
    def router(sc):
        a, _, _, _ = _attacker(sc)
        other = addr(PAR_PREFIX)[:8] + crypto.random_bytes(8)
        yield ("Home Address a random address of the PAR's prefix", craft_fbu(a, sc.w.par_address, other, a, 1),
               {"fbu-rejected:no-key"})
        yield ("Home Address the attacker's own CGA (no key requested)", craft_fbu(a, sc.w.par_address, a, a, 1),
               {"fbu-rejected:no-key"})
        yield ("Home Address the legitimate MN's NCoA (no key there)",
               craft_fbu(a, sc.w.par_address, sc.w.ncoa, a, 1, key=crypto.random_bytes(32)), {"fbu-rejected:no-key"})

    return standard(sc, "fbu-unknown-pcoa", "", router)


@attack("fbu-expired-key", "an FBU with the correct MAC under the legitimate key, after HK-LIFETIME ran out")
def a_fbu_expired_key(sc):
    sc.attach_legit()
    before = sc.snap()
    par0, mn0 = sc.legit_entries(before)
    if par0 is None:
        raise ScenarioError("no legitimate key")
    m = sc.mark()
    # The MN is away (no refresh reaches the PAR) while the key's lifetime runs out.
    with sc.offline("MN"):
        sc.advance(par0[4] - sc.net.now_ms + 1000)
        a, _, _, _ = _attacker(sc)
        key = bytes.fromhex(par0[3])
        sc.probe("FBU redirecting the legitimate PCoA, MAC under the legitimate but expired key (harness privilege)",
                 craft_fbu(a, sc.w.par_address, sc.w.pcoa, a, 1, at=par0[2], key=key), "PAR", {"fbu-rejected:no-key"})
        sc.probe("the legitimate MN's own late FBU (predictive form) under the expired key",
                 craft_fbu(sc.w.pcoa, sc.w.par_address, sc.w.pcoa, sc.w.ncoa, 2, at=par0[2], key=key), "PAR",
                 {"fbu-rejected:no-key"})
        after = sc.snap()
    rejected = sc.effects(m, before, after)
    intact = []
    now = after["now_ms"]
    if not par0[4] <= now:
        intact.append("the legitimate key had not expired when the FBU came (scenario timing)")
    old = [e for e in before["par"]["keys"]]
    if any(e not in old for e in after["par"]["keys"]):
        intact.append("PAR key table gained or changed a record")
    if any(e[0] == sc.w.pcoa.hex() and e[4] > now for e in after["par"]["keys"]):
        intact.append("PAR still holds a live key past HK-LIFETIME")
    # The MN comes back and asks for a key again, as RFC 5269 §3.3 requires; a handover must work.
    m2 = sc.mark()
    sc.net.call("MN", "attach")
    sc.settle(20000)
    if not sc.events(m2, "MN", "key-stored"):
        intact.append("the legitimate MN could not get a new key")
    intact += sc.legit_handover()
    return sc.result("fbu-expired-key", rejected, intact,
                     "HK-LIFETIME %d s; the legitimate key expired by design, the MN re-provisioned and handed over"
                     % sc.w.plan.hk_lifetime)


@attack("certificate-outside-range", "a router certified for a range not covering the prefix answers the MN's CPS")
def a_certificate_outside_range(sc):
    before = sc.snap()
    m = sc.mark()
    anchor = subject_name(cert("anchor"))
    path = [cert("intermediate"), cert("router_outside")]
    rogue_ll, rogue_params = attacker_cga(PAR_KEY, LINK_LOCAL_PREFIX, 3)
    with sc.offline("PAR"):
        m1 = sc.mark()
        sc.net.call("MN", "attach")
        sc.net.run(max_ms=1)
        cps = None
        for _, _, f in sc.frames(m1):
            pkt, msg = icmp_of(f)
            if msg is not None and msg.type == icmp.ICMP_CPS:
                cps = msg.identifier
        if cps is None:
            raise ScenarioError("the mobile node sent no CPS")
        dst = solicited_node(sc.w.mn_ll)
        cpas = [craft_cpa(rogue_ll, dst, cps, len(path), len(path) - 1 - i, c, [anchor] if i == 0 else ())
                for i, c in enumerate(path)]
        sc.probe("CPA path anchor -> intermediate -> router_outside (2001:db9:1::/64, same key as the PAR)", cpas,
                 "MN", {"path-rejected:rfc3779"})
        after = sc.snap()
    rejected = sc.effects(m, before, after)
    if sc.events(m, "MN", "path-validated") or after["mn"]["router_certified"]:
        rejected.append("MN accepted the certification path")
    if any(is_rtsolpr(f) for _, _, f in sc.sent(m)):
        rejected.append("MN went on to ask the rogue router for a key")
    intact = []
    if after["par"] != before["par"] or after["mn"]["keys"] != before["mn"]["keys"]:
        intact.append("state changed during the attack")
    # The real PAR answers the MN's CPS retransmission: the MN must then get a key and hand over.
    sc.settle(30000)
    par1, mn1 = sc.legit_entries(sc.snap())
    if par1 is None or mn1 is None or par1[3] != mn1[3]:
        intact.append("the legitimate MN did not get a shared key from the real PAR afterwards")
    intact += sc.legit_handover()
    return sc.result("certificate-outside-range", rejected, intact,
                     "legitimate key provisioned from the real PAR afterwards")


@attack("flood-distinct-cgas", "a flood of RtSolPrs from many distinct valid CGAs against a small key table")
def a_flood(sc):
    cap = sc.w.plan.table_capacity
    size = FLOOD_SIZE[sc.target]
    sc.attach_legit()
    before = sc.snap()
    par0, mn0 = sc.legit_entries(before)
    m = sc.mark()
    max_keys = 0
    evicted_at = None
    for i in range(size):
        cga_name, hke_name = FLOOD_KEYS[i % len(FLOOD_KEYS)]
        a, params = attacker_cga(cga_name, PAR_PREFIX, 1000 + i)
        sc.attacker_addrs.add(a)
        sc.inject(craft_rtsolpr(a, sc.w.par_ll, params, private_key(cga_name), sc.wall_s,
                                private_key(hke_name).public.spki()))
        sc.net.run(max_ms=2)
        snap = sc.par.snapshot()
        max_keys = max(max_keys, len(snap["keys"]))
        if evicted_at is None and not any(e == par0 for e in snap["keys"]):
            evicted_at = i + 1
    after = sc.snap()
    served = len(sc.events(m, "PAR", "key-provisioned"))
    rejected = []
    if max_keys > cap:
        rejected.append("PAR key table grew to %d entries (capacity %d)" % (max_keys, cap))
    limited = len(sc.events(m, "PAR", "rate-limited"))
    if served + len(sc.events(m, "PAR", "rtsolpr-rejected")) + len(sc.events(m, "PAR", "rtsolpr-no-key")) + limited < size:
        rejected.append("PAR stopped answering during the flood")
    sc.notes.append("flood of %d valid CGAs (%d keys, Sec 0) against capacity %d: %d keys handed out, %d rate-limited, "
                    "table max %d" % (size, len(FLOOD_KEYS), cap, served, limited, max_keys))
    intact = sc.unchanged(before, after, whole_table=False)
    if intact and evicted_at is not None:
        sc.notes.append("legitimate key evicted by flood RtSolPr #%d" % evicted_at)
    if intact:
        life = sc.w.plan.hk_lifetime
        sc.notes.append("without intervention the MN asks for a key again only at its refresh, %d s after provisioning "
                        "(90 %% of HK-LIFETIME %d s)" % (life - life // 10, life))
        intact += _flood_recovery(sc, par0)
    else:
        intact += sc.legit_handover()
    return sc.result("flood-distinct-cgas", rejected, intact, "")


def _flood_recovery(sc, par0):
    """The legitimate key is gone: report what the legitimate MN experiences with its normal behaviour."""
    fails = []
    m = sc.mark()
    sc.net.call("MN", "move", "predictive")  # the MN stays on the PAR's link and retries as it would
    sc.settle(30000)
    rej = [f.get("reason") for _, _, f in sc.events(m, "PAR", "fbu-rejected")]
    sent = len(sc.events(m, "MN", "fbu-sent"))
    failed = bool(sc.events(m, "MN", "fbu-failed"))
    asked = len(sc.events(m, "MN", "rtsolpr-sent"))
    acc = sc.events(m, "PAR", "fbu-accepted")
    sc.notes.append("legitimate MN then sent %d FBU(s): PAR %s; MN %s; MN sent %d RtSolPr on its own within 30 s"
                    % (sent, "accepted" if acc else "rejected %s" % ",".join(map(str, rej)),
                       "gave up (fbu-failed)" if failed else "did not give up", asked))
    if not acc:
        fails.append("legitimate FBU rejected after the flood")
    m = sc.mark()
    sc.net.call("MN", "attach")
    sc.settle(20000)
    prov = [f for _, _, f in sc.events(m, "PAR", "key-provisioned") if f["mn"] == sc.w.pcoa.hex()]
    par1, mn1 = sc.legit_entries(sc.snap())
    same = par1 is not None and par1[3] == par0[3]
    sc.notes.append("an explicit re-attach got %s" % (
        ("the same key back" if same else "a NEW key (the old one is lost)") if prov else "no key"))
    fails += ["after re-attaching: " + f for f in sc.legit_handover()]
    return fails


# ---- running ------------------------------------------------------------------------------


def names():
    return [n for n, _, _ in ATTACKS]


def summaries():
    return [(n, s) for n, _, s in ATTACKS]


def run_attack(name, target="cpython"):
    """Run one attack in a fresh world; the verdict dict (name, target, rejected,
    legitimate_key_intact, checks_ok, detail, checks, seconds)."""
    for n, fn, _ in ATTACKS:
        if n == name:
            break
    else:
        raise KeyError(name)
    plan = {}
    if name == "fbu-expired-key":
        plan["hk_lifetime"] = EXPIRY_LIFETIME_S
    if name == "flood-distinct-cgas":
        plan["table_capacity"] = FLOOD_CAPACITY
        # This scenario is about the key table's eviction policy, so the rate limits (the
        # flood-rate scenario's subject) are opened wide enough for the flood to fill it.
        plan["router_extra"] = {"rtsolpr_rate": 10000, "rtsolpr_burst": 10000}
    t0 = time.monotonic()
    sc = None
    try:
        sc = Scene(target, **plan)
        res = fn(sc)
    except Exception as e:  # a scenario that cannot run is a failure, never a pass
        res = {"name": name, "target": target, "rejected": False, "legitimate_key_intact": False,
               "checks_ok": False, "detail": "scenario error: %s: %s" % (type(e).__name__, e), "checks": []}
    finally:
        if sc is not None:
            sc.close()
    res["seconds"] = round(time.monotonic() - t0, 3)
    return res


def run_all(target="cpython", only=None):
    for name in (only or names()):
        yield run_attack(name, target)


# The restart-* scenarios (the PAR's key store across a restart) register themselves here.
from . import attacks_restart  # noqa: E402,F401
# The flood-rate scenario (thousands of RtSolPrs a second) likewise.
from . import attacks_flood  # noqa: E402,F401
