"""The mobile node engine (sans-I/O): CPS/CPA discovery, RtSolPr/PrRtAdv key provisioning, FBU/FBack.

Driven by `attach`, `move` and `binding_complete` calls plus `handle(frame, now_ms, wall_s)`
and `poll(now_ms, wall_s)`; each returns `(frames, events)`, and `next_deadline()` says when
to poll. The rules are RFC 5269 §3.1, §3.3, §3.4, RFC 3971 §5-6 and RFC 5568 §6, with the
project's decisions in interpretations.md (cited I§n).
"""

from . import algorithms, crypto
from ._compat import const
from .errors import DecodeError, EncodeError, VerifyError
from .mobile_keys import MobileKeyStore
from .send import certpath, signature, x509
from .wire import icmp, ipv6, mh, ndopt

# RFC 5269 §3.7
HKEPK_LIFETIME_S = 43200
HKEPK_HANDOVERS = 10
# RFC 3971 §10.1
CPS_RETRY_MS = 1000
CPS_RETRY_MAX_MS = 15000
# RFC 5568 §9 (the RtSolPr retransmission timer is ours: at least 2 RTT, 100 ms when unknown)
RTSOLPR_RETRIES = 3
RTSOLPR_TIMEOUT_MS = 1000
FBU_RETRIES = 3
FBU_TIMEOUT_MS = 1000
FBU_LIFETIME_S = 30
# RFC 3971 §10.2: the window for a timestamp from a peer with no history.
TIMESTAMP_DELTA_S = 300
# Ask for a new key when this fraction of HK-LIFETIME is left (RFC 5269 §3.3 "prior to expiring").
_REFRESH_DIVISOR = const(10)
_REFRESH_LAST_MS = const(500)  # the last refresh of a key, this long before it expires
_REFRESH_RETRY_MIN_MS = const(30000)  # after a refresh went unanswered, wait at least this
_MAX_PENDING = const(4)  # outstanding RtSolPr nonces remembered
_MAX_FBU_SENT = const(5)  # FBUs of one exchange remembered: the first, FBU_RETRIES more, the one on arrival
# Certificate paths collected side by side, the oldest dropped for a new one: a partial CPA
# anyone on the link can send no longer blocks the router's own advertisement (it would take
# two forged ones between the router's components), and the certificates held stay bounded.
_MAX_CPA_SETS = const(2)

_HOP_LIMIT_ND = const(255)
_NH_ICMPV6 = const(58)
_NH_DEST_OPTS = const(60)
_TX_BUF = const(1500)
_NONCE_LEN = const(6)

_ALL_NODES = ipv6.ALL_NODES
_ALL_ROUTERS = ipv6.ALL_ROUTERS

PREDICTIVE = "predictive"
REACTIVE = "reactive"


def keylog_hke(key_hash, pkcs8):
    return "HKE_PRIVATE_KEY %s %s" % (bytes(key_hash).hex(), bytes(pkcs8).hex())


def keylog_handover_key(mn, router, at, key):
    return "HANDOVER_KEY %s %s %d %s" % (bytes(mn).hex(), bytes(router).hex(), at, bytes(key).hex())


def keylog_trust_anchor(cert):
    return "TRUST_ANCHOR %s" % bytes(cert).hex()


class _Pending:
    """One outstanding RtSolPr: its nonce and the HKE key pair it carried."""

    def __init__(self, nonce, hke, at, sent_ms):
        self.nonce = nonce
        self.hke = hke
        self.at = at
        self.sent_ms = sent_ms


class MobileNode:
    """A mobile node that obtains RFC 5269 handover keys and signs its FBUs with them."""

    def __init__(
        self,
        cga_key,
        pcoa,
        pcoa_params,
        ncoa,
        link_local,
        trust_anchors,
        router_address,
        lla=None,
        target_ap=None,
        preferred_at=1,
        ats=(0, 1),
        hke_keys=(),
        hkepk_lifetime_s=HKEPK_LIFETIME_S,
        hkepk_handovers=HKEPK_HANDOVERS,
        fbu_lifetime_s=FBU_LIFETIME_S,
        keylog=False,
        min_bits=1024,
    ):
        if not trust_anchors:
            raise EncodeError("no trust anchor")
        for a in (pcoa, ncoa, link_local, router_address):
            if len(a) != 16:
                raise EncodeError("address length")
        if not algorithms.is_supported(preferred_at, ats):
            raise EncodeError("preferred AT not in ats")
        self.cga_key = cga_key
        self.pcoa = bytes(pcoa)
        self.pcoa_params = bytes(pcoa_params)
        self.ncoa = bytes(ncoa)
        self.link_local = bytes(link_local)
        self.anchor_certs = [bytes(c) for c in trust_anchors]
        self.anchors = [certpath.TrustAnchor.from_certificate(c) for c in self.anchor_certs]
        self.router_address = bytes(router_address)
        self.lla = bytes(lla) if lla else None
        self.target_ap = bytes(target_ap) if target_ap else None
        self.preferred_at = preferred_at
        self.ats = tuple(ats)
        self.hke_pool = list(hke_keys)
        self.hkepk_lifetime_ms = hkepk_lifetime_s * 1000
        self.hkepk_handovers = hkepk_handovers
        self.fbu_lifetime_s = fbu_lifetime_s
        self.keylog = keylog
        self.min_bits = min_bits
        self.keys = MobileKeyStore()
        # Two exchanges run side by side and each keeps its own state and timer: getting a key
        # (CPS/CPA, RtSolPr/PrRtAdv, and its refresh before HK-LIFETIME runs out, RFC 5269
        # §3.3, I§6) and the handover (FBU/FBack). `state` shows the handover while it is
        # under way or done, otherwise where the key stands.
        self._key_state = "idle"  # idle, discovering, soliciting, ready
        self._fbu_state = None  # None, fbu-sent, moved
        self.router_key = None  # the router's certified key, after a valid CPS/CPA path
        self.router_ll = None  # the address the CPA and PrRtAdv came from
        # Wall-clock seconds (inclusive) in which every certificate of the validated path is
        # within its validity: outside them the router key is no longer certified (I§9).
        self._path_from = 0
        self._path_until = 0
        self._cpa_id = 0  # the Identifier of this node's last CPS
        # Advertisements being collected, each kept apart: [Identifier, source, All Components,
        # {path index: certificate}], the oldest first, at most _MAX_CPA_SETS.
        self._cpa_sets = []
        self._pending = []
        self._first_at = None  # AT of the first request: never ask for a weaker one (no bidding down)
        self._hke = None
        self._hke_born_ms = 0
        self._handovers = 0
        self._sol_ms = None  # CPS or RtSolPr retransmission, or giving up
        self._sol_kind = None  # "cps" or "rtsolpr"
        self._sol_retries = 0
        self._refresh_ms = None  # ask for a new key before the one held runs out
        self._fbu_ms = None  # FBU retransmission, or giving up
        self._fbu_retries = 0
        # (Sequence Number, MobileKey) of each FBU of the exchange under way, oldest first: an
        # FBack may answer any of them (a retransmission, or the FBU sent again on arrival).
        self._fbu_sent = []
        self._cps_wait_ms = CPS_RETRY_MS
        self._cps_started_ms = 0
        self._seq = 0
        self._fbu_mode = None
        self._on_new_link = False
        self._tx = bytearray(_TX_BUF)
        self._check_sizes()

    def _check_sizes(self):
        """EncodeError now, not in handle() later, when the CPS or the RtSolPr this node sends
        would not fit its transmit buffer (ND messages are not fragmented): keys too large, or
        too many or too long trust anchor names or link-layer addresses. Both are laid out as
        they are sent (_lay_cps, _lay_rtsolpr); the HKE key has the CGA key's size and exponent,
        so its SPKI is as long, and the signature option's size follows from the key."""
        buf = self._tx
        try:
            self._lay_cps(ipv6.HEADER_LEN, 1)  # unsigned: it fits if it can be laid out
            off = self._lay_rtsolpr(ipv6.HEADER_LEN, 1, 0, bytes(_NONCE_LEN), self.preferred_at,
                                    self.cga_key.public.spki())
        except EncodeError:
            off = len(buf) + 1
        if off + ((20 + self.cga_key.public.size + 7) & ~7) > len(buf):
            raise EncodeError("the CPS or RtSolPr would not fit %d octets: smaller keys, or fewer or shorter "
                              "trust anchor names and link-layer addresses" % len(buf))

    # -- control --

    @property
    def state(self):
        """"fbu-sent" or "moved" while a handover is under way or done; otherwise "idle",
        "discovering", "soliciting" or "ready", where getting the key stands."""
        if self._fbu_state is not None:
            return self._fbu_state
        return self._key_state

    def attach(self, now_ms, wall_s):
        """On the PAR's link: discover the router's certificate path, then ask for a handover key.
        A new attachment ends any handover exchange still under way."""
        frames = []
        events = []
        if self.keylog:
            for c in self.anchor_certs:
                events.append(("keylog", {"line": keylog_trust_anchor(c)}))
        self._on_new_link = False
        self._fbu_state = None
        self._fbu_ms = None
        self._fbu_sent = []
        # RFC 5269 §3.6: back on the PAR's link, the node MUST NOT assume it can go on using the
        # key it held without receiving it again (the PAR may have discarded it): it is dropped
        # here, and the PrRtAdv brings it back, or a new one.
        if self.keys.remove(self.router_address, self.pcoa):
            events.append(("key-discarded", {"router": self.router_address, "pcoa": self.pcoa}))
        self._refresh_ms = None
        self._request_key(now_ms, wall_s, frames, events)
        return frames, events

    def has_key(self, now_ms):
        """True while the node holds a live key for its PAR (what a handover needs)."""
        return self.keys.find(self.router_address, self.pcoa, now_ms) is not None

    def refresh(self, now_ms, wall_s):
        """Ask the PAR for a key now, keeping the one held until the answer replaces it: what the
        refresh timer does before HK-LIFETIME runs out (RFC 5269 §3.3), on demand."""
        frames = []
        events = [("key-refresh", {})]
        self._request_key(now_ms, wall_s, frames, events)
        return frames, events

    def move(self, now_ms, wall_s, mode=PREDICTIVE):
        """Send the FBU to the PAR: predictive from the PAR's link with the Alternate CoA = NCoA,
        reactive from the NAR's link with source NCoA. The caller moves the interface."""
        frames = []
        events = []
        if mode != PREDICTIVE and mode != REACTIVE:
            raise EncodeError("bad mode")
        self._fbu_mode = mode
        self._on_new_link = mode == REACTIVE
        self._fbu_retries = 0
        self._fbu_sent = []  # a new exchange
        self._send_fbu(now_ms, frames, events)
        return frames, events

    def arrived(self, now_ms, wall_s):
        """The interface is now on the NAR's link (after a predictive FBU). An FBU still
        unanswered is sent again at once, now as from the NAR's link (source NCoA, no Alternate
        CoA): RFC 5568 §3.1 (2), §6.2.1, §6.2.2."""
        frames = []
        events = []
        self._on_new_link = True
        if self._fbu_state == "fbu-sent":
            self._fbu_mode = REACTIVE
            self._send_fbu(now_ms, frames, events)
        return frames, events

    def binding_complete(self, now_ms, wall_s):
        """The MIPv6 binding update at the new AR is done: drop the PAR key (RFC 5269 §3.6 SHOULD)."""
        events = []
        if self.keys.remove(self.router_address, self.pcoa):
            events.append(("key-discarded", {"router": self.router_address, "pcoa": self.pcoa}))
        # The handover is over: nothing more is sent with the key, a late FBack is not checked
        # with it, and no key is asked of the PAR any more (a request under way ends too: its
        # retransmissions, and the nonces a late PrRtAdv would match).
        self._fbu_ms = None
        self._fbu_sent = []
        if self._fbu_state == "fbu-sent":
            self._fbu_state = None
        self._key_state = "idle"
        self._refresh_ms = None
        self._sol_ms = None
        self._sol_kind = None
        self._pending = []
        self._cpa_sets = []
        return [], events

    # -- the engine interface --

    def handle(self, frame, now_ms, wall_s):
        frames = []
        events = []
        pkt, why = ipv6.receive(frame, self._for_me)
        if pkt is None:
            if why is not None:
                events.append(("dropped", {"reason": why}))
            return frames, events
        try:
            if pkt.next_header == _NH_ICMPV6:
                t = frame[pkt.payload_off]
                if t == icmp.ICMP_CPA or t == icmp.ICMP_FMIPV6:
                    msg = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
                    if pkt.hop_limit != _HOP_LIMIT_ND:
                        events.append(("dropped", {"reason": "hop-limit"}))
                    elif msg.type == icmp.ICMP_CPA:
                        self._on_cpa(frame, pkt, msg, now_ms, wall_s, frames, events)
                    elif msg.subtype == icmp.SUB_PRRTADV:
                        self._on_prrtadv(frame, pkt, msg, now_ms, wall_s, frames, events)
            elif pkt.next_header == mh.IPPROTO_MH:
                self._on_mh(frame, pkt, now_ms, events)
        except DecodeError:
            events.append(("dropped", {"reason": "decode"}))
        return frames, events

    def poll(self, now_ms, wall_s):
        """Run every timer that is due: the FBU retransmission, the key refresh, and the CPS or
        RtSolPr retransmission, each on its own."""
        frames = []
        events = []
        if self._fbu_ms is not None and now_ms >= self._fbu_ms:
            self._fbu_ms = None
            if self._fbu_retries >= FBU_RETRIES:
                # RFC 5568 §4: no fast handover. The key and its refresh stay: the node is
                # still on the PAR's link and may try again.
                events.append(("fbu-failed", {}))
                self._fbu_state = None
                self._fbu_sent = []
            else:
                self._fbu_retries += 1
                self._send_fbu(now_ms, frames, events)
        if self._refresh_ms is not None and now_ms >= self._refresh_ms:
            self._refresh_ms = None
            # On the NAR's link the PAR's key is no longer needed (RFC 5269 §3.3 "if FMIPv6
            # service is still required from the router").
            if not self._on_new_link:
                events.append(("key-refresh", {}))
                self._request_key(now_ms, wall_s, frames, events)
        if self._sol_ms is not None and now_ms >= self._sol_ms:
            kind = self._sol_kind
            self._sol_ms = None
            self._sol_kind = None
            if kind == "cps":
                if now_ms - self._cps_started_ms >= CPS_RETRY_MAX_MS:
                    events.append(("cps-failed", {}))
                    self._gave_up(now_ms)
                else:
                    self._cps_wait_ms *= 2
                    self._send_cps(now_ms, frames, events)
            elif self._sol_retries >= RTSOLPR_RETRIES:
                events.append(("rtsolpr-failed", {}))
                self._gave_up(now_ms)
            else:
                self._sol_retries += 1
                self._send_rtsolpr(now_ms, wall_s, frames, events, retry=True)
        return frames, events

    def _gave_up(self, now_ms):
        """A key request went unanswered. RFC 5269 §3.3: the node MUST ask for a new key before
        HK-LIFETIME runs out, so while the key it holds is live the request is only put off:
        to halfway between now and the key's last moment, or, once that is under a minute
        away, to the last moment itself."""
        entry = self.keys.find(self.router_address, self.pcoa, now_ms)
        if entry is None:
            self._key_state = "idle"
            return
        self._key_state = "ready"
        last = entry.expires_ms - _REFRESH_LAST_MS
        if last > now_ms and self._refresh_ms is None:
            gap = last - now_ms
            self._refresh_ms = now_ms + gap // 2 if gap >= 2 * _REFRESH_RETRY_MIN_MS else last

    def next_deadline(self):
        """The earliest of the timers (monotonic ms), or None when none is armed."""
        d = self._sol_ms
        t = self._refresh_ms
        if t is not None and (d is None or t < d):
            d = t
        t = self._fbu_ms
        if t is not None and (d is None or t < d):
            d = t
        return d

    def snapshot(self):
        return {
            "state": self.state,
            "keys": sorted([[k.pcoa, sorted(k.routers), k.at, k.key, k.expires_ms] for k in self.keys.items()]),
            "router_certified": self.router_key is not None,
        }

    # -- helpers --

    def _for_me(self, dst):
        if dst == self.pcoa or dst == self.ncoa or dst == self.link_local or dst == _ALL_NODES:
            return True
        return (
            ipv6.is_solicited_for(dst, self.pcoa)
            or ipv6.is_solicited_for(dst, self.ncoa)
            or ipv6.is_solicited_for(dst, self.link_local)
        )

    def _certified(self, wall_s):
        """The router's certified key, or None. Outside the validity of its path the key is
        forgotten, so that the path is solicited and validated again (I§9, RFC 3971 §6.4.6:
        no CPS while the host has a currently valid path)."""
        if self.router_key is not None and (wall_s < self._path_from or wall_s > self._path_until):
            self.router_key = None
        return self.router_key

    def _request_key(self, now_ms, wall_s, frames, events):
        """Ask for a handover key: CPS/CPA first when the router's path is not validated."""
        self._sol_retries = 0
        if self._certified(wall_s) is None:
            self._start_cps(now_ms, frames, events)
        else:
            self._send_rtsolpr(now_ms, wall_s, frames, events)

    def _hke_key(self, now_ms, events):
        """The handover key encryption key pair: same size and exponent as the CGA key
        (RFC 5269 §3.1), retired after HKEPK-LIFETIME or HKEPK-HANDOVERS."""
        if self._hke is not None:
            if (
                self._handovers >= self.hkepk_handovers
                or now_ms - self._hke_born_ms >= self.hkepk_lifetime_ms
            ):
                events.append(("hke-retired", {"handovers": self._handovers}))
                self._hke = None
        if self._hke is None:
            want = self.cga_key.public
            key = None
            while self.hke_pool and key is None:
                k = self.hke_pool.pop(0)
                # The size is the modulus bit length: a 1020-bit key has the 128 octets of a
                # 1024-bit one but not "exactly the same parameters" (RFC 5269 §3.1, I§7).
                if k.public.bits == want.bits and k.public.e == want.e and k.public != want:
                    key = k
            if key is None:
                key = crypto.generate_rsa(want.bits, want.e)
            self._hke = key
            self._hke_born_ms = now_ms
            self._handovers = 0
            if self.keylog:
                events.append(("keylog", {"line": keylog_hke(key.public.key_hash(), key.pkcs8())}))
        return self._hke

    # -- CPS / CPA (RFC 3971 §6.4) --

    def _start_cps(self, now_ms, frames, events):
        self._key_state = "discovering"
        self._cps_started_ms = now_ms
        self._cps_wait_ms = CPS_RETRY_MS
        self._send_cps(now_ms, frames, events)

    def _send_cps(self, now_ms, frames, events):
        ident = 0
        while ident == 0:
            r = crypto.random_bytes(2)
            ident = (r[0] << 8) | r[1]
        self._cpa_id = ident
        self._cpa_sets = []
        buf = self._tx
        off = self._lay_cps(ipv6.encode_header(buf, 0, 0, _NH_ICMPV6, _HOP_LIMIT_ND, self.link_local, _ALL_ROUTERS),
                            ident)
        ipv6.finish(buf, 0, off)
        frames.append(bytes(buf[:off]))
        events.append(("cps-sent", {"identifier": ident}))
        self._sol_ms = now_ms + self._cps_wait_ms
        self._sol_kind = "cps"

    def _lay_cps(self, off, ident):
        """The CPS message at self._tx[off:] (after its IPv6 header); returns its end."""
        buf = self._tx
        off = icmp.encode_cps(buf, off, ident)
        for a in self.anchors:
            off = ndopt.put_trust_anchor(buf, off, ndopt.NAME_DER, a.name)
        return off

    def _lay_rtsolpr(self, off, ident, ts, nonce, at, hke_spki):
        """The RtSolPr message at self._tx[off:] up to its RSA Signature option; returns the end."""
        buf = self._tx
        off = icmp.encode_rtsolpr(buf, off, ident)
        if self.lla:
            off = ndopt.put_lla(buf, off, ndopt.LLA_SOURCE, self.lla)
        if self.target_ap:
            off = ndopt.put_lla(buf, off, ndopt.LLA_NEW_AP, self.target_ap)
        else:
            off = ndopt.put_lla(buf, off, ndopt.LLA_WILDCARD, b"")
        off = ndopt.put_cga(buf, off, self.pcoa_params)
        off = ndopt.put_timestamp(buf, off, ts)
        off = ndopt.put_nonce(buf, off, nonce)
        return ndopt.put_hk_request(buf, off, at, hke_spki)

    def _on_cpa(self, frame, pkt, msg, now_ms, wall_s, frames, events):
        if self._key_state != "discovering":
            events.append(("dropped", {"reason": "cpa-unsolicited"}))
            return
        ident = msg.identifier
        # RFC 3971 §6.4.2: Identifier 0 exactly when the CPA goes to All-Nodes, as a router
        # sends it for a CPS from the unspecified address or when under load (§6.4.5). A CPA
        # that breaks the rule does not conform and is discarded (§6.4.6).
        if (ident == 0) != (pkt.dst == _ALL_NODES):
            events.append(("dropped", {"reason": "cpa-identifier"}))
            return
        # An All-Nodes CPA answers whichever CPS the router chose to answer that way; it is a
        # valid advertisement all the same (§6.4.6), and its path must validate like any.
        if ident != 0 and ident != self._cpa_id:
            events.append(("dropped", {"reason": "cpa-unsolicited"}))
            return
        src = bytes(pkt.src)
        # Every check comes before any change: a CPA that fails one changes no collection.
        total = msg.all_components
        if total < 1 or total > certpath.MAX_PATH or msg.component >= total:
            events.append(("dropped", {"reason": "cpa-components"}))
            return
        # Each advertisement (Identifier and source) is collected apart, so components of two
        # are never mixed and a forged one cannot shut out the router's (RFC 3971 §6.4.6 keeps
        # hosts from storing what they cannot verify, against this kind of denial of service).
        found = None
        for cs in self._cpa_sets:
            if cs[0] == ident and cs[1] == src:
                found = cs
                break
        if found is not None and found[2] != total:
            events.append(("dropped", {"reason": "cpa-components"}))
            return
        cert_opts = msg.find_all(ndopt.OPT_CERTIFICATE)
        if len(cert_opts) != 1:
            events.append(("dropped", {"reason": "cpa-certificates"}))
            return
        c = ndopt.get_certificate(frame, cert_opts[0][1], cert_opts[0][2])
        if found is None:
            if len(self._cpa_sets) >= _MAX_CPA_SETS:
                self._cpa_sets.pop(0)
            found = [ident, src, total, {}]
            self._cpa_sets.append(found)
        certs = found[3]
        # Component counts down from total-1 to 0; the path index is the reverse.
        certs[total - 1 - msg.component] = bytes(c.cert)
        if len(certs) < total:
            return
        self._cpa_sets.remove(found)
        path = [certs[i] for i in range(total)]
        # Parsed here, not in certpath, so that the validity dates are at hand afterwards.
        try:
            path = [x509.parse(c) for c in path]
        except DecodeError:
            events.append(("path-rejected", {"reason": "decode"}))
            return
        try:
            key = certpath.validate_path(self.anchors, path, wall_s, self.pcoa, self.min_bits)
        except VerifyError as e:
            events.append(("path-rejected", {"reason": e.reason}))
            return
        # The path holds while all its certificates do (RFC 5280 §6.1.3 (a)(2)); the anchor's
        # own dates are not checked (RFC 5280 §6.1.1 (d), certpath).
        start = path[0].not_before
        until = path[0].not_after
        for c in path:
            if c.not_before > start:
                start = c.not_before
            if c.not_after < until:
                until = c.not_after
        self._path_from = start
        self._path_until = until
        self.router_key = key
        self.router_ll = bytes(pkt.src)
        self._cpa_sets = []
        events.append(("path-validated", {"router": self.router_ll, "key_hash": key.key_hash()}))
        self._sol_retries = 0
        self._send_rtsolpr(now_ms, wall_s, frames, events)

    # -- RtSolPr / PrRtAdv (RFC 5269 §3.1, §3.3) --

    def _request_at(self):
        at = self.preferred_at
        if self._first_at is not None and algorithms.strength(at) < algorithms.strength(self._first_at):
            at = self._first_at
        return at

    def _send_rtsolpr(self, now_ms, wall_s, frames, events, retry=False):
        hke = self._hke_key(now_ms, events)
        at = self._request_at()
        if self._first_at is None:
            self._first_at = at
        nonce = crypto.random_bytes(_NONCE_LEN)
        dst = self.router_ll if self.router_ll is not None else _ALL_ROUTERS
        buf = self._tx
        icmp_off = ipv6.encode_header(buf, 0, 0, _NH_ICMPV6, _HOP_LIMIT_ND, self.pcoa, dst)
        off = self._lay_rtsolpr(icmp_off, (nonce[0] << 8) | nonce[1], ndopt.timestamp_from_wall(wall_s), nonce, at,
                                hke.public.spki())
        end = signature.sign(self.cga_key, buf, 0, icmp_off, off)
        frames.append(bytes(buf[:end]))
        if len(self._pending) >= _MAX_PENDING:
            self._pending.pop(0)
        self._pending.append(_Pending(nonce, hke, at, now_ms))
        self._key_state = "soliciting"
        events.append(("rtsolpr-sent", {"at": at, "nonce": nonce, "retry": retry}))
        self._sol_ms = now_ms + (RTSOLPR_TIMEOUT_MS << self._sol_retries)
        self._sol_kind = "rtsolpr"

    def _find_pending(self, nonce):
        for p in self._pending:
            if crypto.ct_equal(p.nonce, nonce):
                return p
        return None

    def _on_prrtadv(self, frame, pkt, msg, now_ms, wall_s, frames, events):
        # Every check first; state changes only once all of them passed.
        nonce_opt = msg.find(ndopt.OPT_NONCE)
        if nonce_opt is None:
            events.append(("prrtadv-rejected", {"reason": "no-nonce"}))
            return
        pending = self._find_pending(bytes(ndopt.get_nonce(frame, nonce_opt[1], nonce_opt[2])))
        if pending is None:
            events.append(("prrtadv-rejected", {"reason": "unknown-nonce"}))
            return
        if self.router_key is None:
            events.append(("prrtadv-rejected", {"reason": "uncertified"}))
            return
        if self._certified(wall_s) is None:
            # A certificate of the path is past its notAfter (or before its notBefore): the
            # key is forgotten and nothing else changes; the next attach asks for the path.
            events.append(("prrtadv-rejected", {"reason": "expired"}))
            return
        try:
            check = signature.verify(frame, pkt, msg, self.min_bits)
        except VerifyError as e:
            events.append(("prrtadv-rejected", {"reason": e.reason}))
            return
        if check.key != self.router_key:
            # RFC 5269 §3.3: only the router's certified key may sign it.
            events.append(("prrtadv-rejected", {"reason": "uncertified"}))
            return
        ts_opt = msg.find(ndopt.OPT_TIMESTAMP)
        if ts_opt is None:
            events.append(("prrtadv-rejected", {"reason": "no-timestamp"}))
            return
        ts = ndopt.get_timestamp(frame, ts_opt[1], ts_opt[2])
        skew = wall_s * 65536 - ts
        if skew <= -TIMESTAMP_DELTA_S * 65536 or skew >= TIMESTAMP_DELTA_S * 65536:
            events.append(("prrtadv-rejected", {"reason": "timestamp"}))
            return
        reply_opt = msg.find(ndopt.OPT_HK_REPLY)
        if reply_opt is None:
            events.append(("prrtadv-no-key", {"code": msg.code}))
            return
        reply = ndopt.get_hk_reply(frame, reply_opt[1], reply_opt[2])
        at = reply.at
        if not algorithms.is_supported(at, self.ats):
            events.append(("prrtadv-rejected", {"reason": "unsupported-at", "at": at}))
            return
        if algorithms.strength(at) < algorithms.strength(pending.at):
            # The router must answer with the requested AT or a stronger one (I§1).
            events.append(("prrtadv-rejected", {"reason": "bid-down", "at": at}))
            return
        if reply.lifetime == 0:
            events.append(("prrtadv-rejected", {"reason": "lifetime"}))
            return
        # I§7: implicit rejection. A bad ciphertext yields a pseudorandom key and everything
        # below runs the same way; the later FBU simply fails at the router.
        key = crypto.rsa_decrypt_implicit(pending.hke, reply.enc_key, algorithms.key_len(at))
        router_ll = bytes(pkt.src)
        expires_ms = now_ms + reply.lifetime * 1000
        old = self.keys.find(self.router_address, self.pcoa, now_ms)
        # A refresh that brought back the same key (the router MUST return a live key, RFC 5269
        # §3.2) cannot extend it: ask again just before it expires, when the router, whose copy
        # is older than ours by the round trip, has less than a second left and makes a new one.
        same_key = old is not None and crypto.ct_equal(old.key, key)
        self.keys.put([self.router_address, router_ll], self.pcoa, at, key, expires_ms, now_ms)
        self._pending = []
        # The key exchange is done; an FBU exchange under way keeps its state and timer (the
        # FBack is checked with the key its FBU was MAC'ed with, see _send_fbu).
        self._key_state = "ready"
        self._sol_ms = None
        self._sol_kind = None
        if self.keylog:
            events.append(("keylog", {"line": keylog_handover_key(self.pcoa, self.router_address, at, key)}))
        events.append(("key-stored", {"router": self.router_address, "pcoa": self.pcoa, "at": at, "lifetime": reply.lifetime}))
        if same_key:
            refresh_ms = expires_ms - _REFRESH_LAST_MS
        else:
            refresh_ms = expires_ms - (reply.lifetime * 1000) // _REFRESH_DIVISOR
        self._refresh_ms = refresh_ms

    # -- FBU / FBack (RFC 5269 §3.4, RFC 5568 §6.2) --

    def _send_fbu(self, now_ms, frames, events):
        # Every transmission, the first and each retransmission, takes a new Sequence Number
        # (RFC 6275 §11.8, which RFC 5568 follows for the FBU), so each is a message of its own
        # and its MAC is made with the key held when it goes out. A refresh brings a different
        # key only when the router has replaced the old one, so the key held now is the one
        # the router checks against; an expired key is never used (RFC 5269 §3.6). The FBack
        # answers one transmission, and is checked with that transmission's key (_fbu_sent).
        par = self.router_address
        entry = self.keys.find(par, self.pcoa, now_ms)
        if entry is None:
            events.append(("fbu-no-key", {"router": par}))
            # Nothing to (re)send with: an exchange under way ends here.
            self._fbu_ms = None
            if self._fbu_state == "fbu-sent":
                self._fbu_state = None
                self._fbu_sent = []
            return
        at = entry.at
        alen = algorithms.auth_len(at)
        self._seq = (self._seq + 1) & 0xFFFF
        seq = self._seq
        predictive = self._fbu_mode == PREDICTIVE
        src = self.pcoa if predictive else self.ncoa
        buf = self._tx
        off = ipv6.encode_header(buf, 0, 0, _NH_DEST_OPTS, 64, src, par)
        off = ipv6.encode_dest_opts_hao(buf, off, mh.IPPROTO_MH, self.pcoa)
        mh_off = off
        end, auth_off = mh.encode_fbu(
            buf, off, seq, mh.FBU_A | mh.FBU_H, self.fbu_lifetime_s, alen, self.ncoa if predictive else None
        )
        parts = mh.badf_mac_parts(buf, mh_off, auth_off, self.ncoa, par)
        mh.set_authenticator(buf, auth_off, alen, algorithms.mac(at, entry.key, *parts))
        ipv6.finish(buf, 0, end)
        frames.append(bytes(buf[:end]))
        sent = self._fbu_sent
        if len(sent) >= _MAX_FBU_SENT:
            sent.pop(0)
        sent.append((seq, entry))
        self._fbu_state = "fbu-sent"
        events.append(("fbu-sent", {"seq": seq, "mode": self._fbu_mode, "at": at}))
        self._fbu_ms = now_ms + (FBU_TIMEOUT_MS << self._fbu_retries)

    def _on_mh(self, frame, pkt, now_ms, events):
        m = mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
        if m.mh_type != mh.MH_FBACK:
            return
        # The FBU of this exchange the FBack answers, and the key it was MAC'ed with, even if a
        # refresh has stored another since: the router MAC'ed the FBack with the key that
        # verified that FBU. It must still be live and belong to the FBack's source.
        entry = None
        for seq, e in self._fbu_sent:
            if seq == m.seq:
                entry = e
        if self._fbu_state == "moved" and entry is not None:
            # Answered already: the PAR answers a predictive FBU on both links (RFC 5568 §3.1),
            # and another transmission of the same FBU may be answered too. Not news.
            return
        if self._fbu_state != "fbu-sent" or entry is None:
            events.append(("fback-rejected", {"reason": "sequence"}))
            return
        if now_ms >= entry.expires_ms or not entry.serves(bytes(pkt.src)):
            events.append(("fback-rejected", {"reason": "no-key"}))
            return
        at = entry.at
        alen = algorithms.auth_len(at)
        if m.badf_spi != mh.SPI_HANDOVER_KEY or m.auth_len != alen or (
            m.badf_len_field != alen + 4 and m.badf_len_field != alen
        ):
            events.append(("fback-rejected", {"reason": "badf"}))
            return
        parts = mh.badf_mac_parts(frame, m.off, m.auth_off, self.ncoa, pkt.src)
        received = memoryview(frame)[m.auth_off : m.auth_off + alen]
        if not algorithms.authenticator_matches(at, entry.key, received, *parts):
            events.append(("fback-rejected", {"reason": "mac"}))
            return
        self._fbu_ms = None
        if m.status >= mh.FBACK_UNSPECIFIED:
            # Refused: no handover. The key and its refresh stay, as after fbu-failed.
            self._fbu_state = None
            self._fbu_sent = []
            events.append(("fback-refused", {"status": m.status}))
            return
        self._handovers += 1
        self._fbu_state = "moved"
        events.append(("fback-accepted", {"seq": m.seq, "status": m.status, "lifetime": m.lifetime}))
