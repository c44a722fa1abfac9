"""The access router engine (sans-I/O): RtSolPr -> PrRtAdv with a handover key, FBU -> FBack, CPS -> CPA.

`handle(frame, now_ms, wall_s)` takes one IPv6 packet and returns `(frames, events)`: the
packets to send and what happened, each event a `(kind, fields)` pair. Nothing here reads a
clock or touches a socket. The rules are RFC 5269 §3.2, §3.5, §3.6, RFC 3971 §5-6 and
RFC 5568 §6, with the project's decisions in interpretations.md (cited I§n).
"""

from . import algorithms, crypto
from ._compat import IS_MICROPYTHON, const
from .crypto.rsakey import RsaPublicKey
from .errors import CryptoError, DecodeError, EncodeError, VerifyError
from .keytable import KeyTable
from .ratelimit import SourceBuckets, TokenBucket
from .send import signature
from .send.replay import ReplayGuard
from .wire import icmp, ipv6, mh, ndopt

HK_LIFETIME_S = 43200  # RFC 5269 §3.7
FBU_LIFETIME_MAX_S = 300  # longest forwarding a PAR grants for one FBU
FORWARDING_CAPACITY = 256
# A full key table lets a newcomer displace a key only once that key is this old (flood control).
KEY_PROTECT_S = 600
# RtSolPrs handled a second (each costs an RSA signature), in all and per source.
RTSOLPR_RATE = 50
RTSOLPR_BURST = 50
SOURCE_RATE = 2
SOURCE_BURST = 16

_HOP_LIMIT_ND = const(255)
_NH_ICMPV6 = const(58)
_TX_BUF = const(1500)
_IPV6_HDR = const(40)
_TS_OPT = const(16)  # the Timestamp option
_ETH_LLA = const(6)  # link-layer address length on Ethernet-like links
_MAX_LLA = const(32)

_UNSPECIFIED = ipv6.UNSPECIFIED
_ALL_NODES = ipv6.ALL_NODES
_ALL_ROUTERS = ipv6.ALL_ROUTERS
solicited_node = ipv6.solicited_node


class Neighbor:
    """One access point next to this router and the router behind it (for PrRtAdv code 0)."""

    def __init__(self, ap_lla, nar_lla, nar_address, nar_prefix, prefix_len=64):
        if not 1 <= len(ap_lla) <= _MAX_LLA or not 1 <= len(nar_lla) <= _MAX_LLA:
            raise EncodeError("link-layer addresses must be 1 to 32 octets")
        if len(nar_address) != 16 or len(nar_prefix) != 16 or not 0 <= prefix_len <= 128:
            raise EncodeError("NAR address and prefix must be 16 octets, prefix length 0..128")
        # Checked here, not per RtSolPr: a bad neighbour entry must fail at start, not on every request.
        for i in range(16):
            keep = prefix_len - 8 * i
            mask = 0xFF if keep >= 8 else (0 if keep <= 0 else (0xFF << (8 - keep)) & 0xFF)
            if nar_prefix[i] & ~mask & 0xFF:
                raise EncodeError("NAR prefix has bits set past its prefix length")
        self.ap_lla = bytes(ap_lla)
        self.nar_lla = bytes(nar_lla)
        self.nar_address = bytes(nar_address)
        self.nar_prefix = bytes(nar_prefix)
        self.prefix_len = prefix_len


class Router:
    """An FMIPv6 access router with SEND that provisions RFC 5269 handover keys."""

    def __init__(
        self,
        key,
        link_local,
        cga_params,
        address,
        cert_path,
        anchor_names,
        lla=None,
        ats=(0, 1),
        hk_lifetime_s=HK_LIFETIME_S,
        table_capacity=256,
        neighbors=(),
        replay_capacity=64,
        min_bits=1024,
        key_protect_s=KEY_PROTECT_S,
        rtsolpr_rate=RTSOLPR_RATE,
        rtsolpr_burst=RTSOLPR_BURST,
        source_rate=SOURCE_RATE,
        source_burst=SOURCE_BURST,
    ):
        if len(link_local) != 16 or len(address) != 16:
            raise EncodeError("router addresses must be 16 octets")
        if not 0 < hk_lifetime_s <= 0xFFFF:
            raise EncodeError("HK-LIFETIME must fit the 16-bit Key Lifetime field")
        for at in ats:
            if not algorithms.is_supported(at):
                raise EncodeError("AT not in the registry")
        self.key = key
        self.link_local = bytes(link_local)
        self.cga_params = bytes(cga_params)
        self.address = bytes(address)
        self._sn_link_local = solicited_node(self.link_local)
        self._sn_address = solicited_node(self.address)
        self.cert_path = [bytes(c) for c in cert_path]
        self.anchor_names = [bytes(n) for n in anchor_names]
        self.lla = bytes(lla) if lla else None
        self.ats = tuple(ats)
        self.hk_lifetime_s = hk_lifetime_s
        self.table = KeyTable(table_capacity)
        if IS_MICROPYTHON:
            self.replay = ReplayGuard(replay_capacity)
        else:
            # The same rules over dicts: CPython scans slabs slowly (send/replay_dict.py).
            from .send.replay_dict import DictReplayGuard

            self.replay = DictReplayGuard(replay_capacity)
        self.neighbors = list(neighbors)
        self.min_bits = min_bits
        self.key_protect_s = key_protect_s
        # Flood control before any RSA work: every RtSolPr costs at least one private-key
        # operation (the signed PrRtAdv), so the budget is in RtSolPrs a second.
        self._rtsolpr_bucket = TokenBucket(rtsolpr_rate, rtsolpr_burst)
        # Sec 0 CGAs cost one hash to mint, Sec 1 2^16 (RFC 3972 §7.2): new Sec 0 sources may use
        # only a quarter of the budget, so a cheap flood cannot crowd out everybody else.
        self._sec0_bucket = TokenBucket((rtsolpr_rate + 3) // 4, (rtsolpr_burst + 3) // 4)
        self._sources = SourceBuckets(source_rate, source_burst, replay_capacity)
        # PCoA -> [NCoA, expires_ms, last sequence number]: the forwarding an accepted FBU set up.
        self.forwarding = {}
        self._tx = bytearray(_TX_BUF)
        if self.lla is not None and len(self.lla) > _MAX_LLA:
            raise EncodeError("the router's link-layer address must be at most 32 octets")
        # Every CPA this router can send must fit its transmit buffer: build each once now.
        for i in range(len(self.cert_path)):
            self._cpa(_ALL_NODES, 0, len(self.cert_path), i, self.cert_path[i], self.anchor_names if i == 0 else ())
        # CPython: FBUs and RtSolPrs in the layouts mobile nodes send take a slice-and-C fast
        # path with the same outcome (router_fast.py; never loaded on MicroPython, so not part
        # of a board image). It keeps the PrRtAdv's neighbour part, this router's Key Hash and
        # the AT answered to each requested AT.
        self._fast = None
        self._prrtadv_heads = {}
        self._key_hash = None
        self._negotiated = {}
        if not IS_MICROPYTHON:
            from .router_fast import handle_fast

            self._fast = handle_fast

    # -- the engine interface --

    def handle(self, frame, now_ms, wall_s):
        fast = self._fast
        if fast is not None:
            out = fast(self, frame, now_ms, wall_s)
            if out is not None:
                return out
        frames = []
        events = []
        pkt, why = ipv6.receive(frame, self._for_me)
        if pkt is None:
            if why is not None:
                events.append(("dropped", {"reason": why}))
            return frames, events
        nh = pkt.next_header
        try:
            if nh == _NH_ICMPV6:
                self._on_icmp(frame, pkt, now_ms, wall_s, frames, events)
            elif nh == mh.IPPROTO_MH:
                self._on_mh(frame, pkt, now_ms, frames, events)
        except DecodeError:
            # RFC 4861 §4.6 / RFC 5269 §4: a malformed option (length 0, overrun) drops the
            # whole message, silently for the peer.
            events.append(("dropped", {"reason": "decode"}))
        return frames, events

    def poll(self, now_ms, wall_s):
        events = []
        n = self.table.expire(now_ms)
        if n:
            events.append(("keys-expired", {"count": n}))
        for pcoa in [p for p, f in self.forwarding.items() if now_ms >= f[1]]:
            self._end_forwarding(pcoa, events)
        return [], events

    def _end_forwarding(self, pcoa, events):
        """Forwarding for pcoa is over: timed out, deregistered (Lifetime 0) or displaced by a
        full forwarding table. RFC 5269 §3.6: the PAR MUST discard the key once forwarding for
        the PCoA times out. The key goes in every case because the forwarding entry also holds
        the last accepted FBU sequence number: a key that outlived it would accept a replay of
        any FBU it had verified before."""
        if self.forwarding.pop(pcoa, None) is not None:
            events.append(("forwarding-ended", {"pcoa": pcoa}))
        if self.table.remove(pcoa):
            events.append(("key-discarded", {"pcoa": pcoa}))

    def next_deadline(self):
        """When forwarding next times out (its key goes with it); keys past HK-LIFETIME expire
        lazily on lookup, so they need no timer."""
        first = None
        for f in self.forwarding.values():
            if first is None or f[1] < first:
                first = f[1]
        return first

    def snapshot(self):
        """The protocol state a test compares before and after an input: the keys in their LRU
        order (unpinned first, then the pinned ones), how many are pinned, and forwarding."""
        keys = [[bytes(a), bytes(fp), at, bytes(k), exp] for a, fp, at, k, exp in self.table.items()]
        fwd = sorted([[p, f[0], f[1]] for p, f in self.forwarding.items()])
        return {"keys": keys, "pinned": self.table.pinned_count(), "forwarding": fwd}

    # -- dispatch --

    def _for_me(self, dst):
        # The solicited-node groups count too: RFC 3971 §6.4.1 names them as a CPS destination.
        return (dst == self.link_local or dst == self.address or dst == _ALL_ROUTERS or dst == _ALL_NODES
                or dst == self._sn_link_local or dst == self._sn_address)

    def _on_icmp(self, frame, pkt, now_ms, wall_s, frames, events):
        t = frame[pkt.payload_off]
        if t != icmp.ICMP_FMIPV6 and t != icmp.ICMP_CPS:
            return
        msg = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
        if pkt.hop_limit != _HOP_LIMIT_ND:
            events.append(("dropped", {"reason": "hop-limit"}))
            return
        if msg.type == icmp.ICMP_CPS:
            self._on_cps(frame, pkt, msg, frames, events)
        elif msg.subtype == icmp.SUB_RTSOLPR:
            self._on_rtsolpr(frame, pkt, msg, now_ms, wall_s, frames, events)

    # -- RtSolPr -> PrRtAdv (RFC 5269 §3.2) --

    def _check_rtsolpr(self, frame, pkt, msg, now_ms, wall_s):
        """Every SEND and RFC 5269 check, with no side effect. Returns (check, ts, nonce, request)."""
        # The source is the PCoA that names the key, and an FBU's Home Address must carry it:
        # unicast and routable (interpretations §5, RFC 6275 §9.3.1), never link-local.
        if not ipv6.is_unicast_routable(pkt.src):
            raise VerifyError("source")
        check = signature.verify(frame, pkt, msg, self.min_bits)
        ts_opt = msg.find(ndopt.OPT_TIMESTAMP)
        if ts_opt is None:
            raise VerifyError("no-timestamp")
        nonce_opt = msg.find(ndopt.OPT_NONCE)
        if nonce_opt is None:
            raise VerifyError("no-nonce")
        ts = ndopt.get_timestamp(frame, ts_opt[1], ts_opt[2])
        nonce = bytes(ndopt.get_nonce(frame, nonce_opt[1], nonce_opt[2]))
        self.replay.check(pkt.src, ts, nonce, now_ms, wall_s)
        return check, ts, nonce

    def _hke_key(self, frame, msg, check):
        """The Handover Key Request's public key, or None when the request is absent.

        RFC 5269 §4.1: same format and parameters as the CGA key; §3.1: the key pair is used for
        nothing else, so the CGA key itself is refused."""
        req_opt = msg.find(ndopt.OPT_HK_REQUEST)
        if req_opt is None:
            return None, None
        req = ndopt.get_hk_request(frame, req_opt[1], req_opt[2])
        try:
            hke = RsaPublicKey.from_spki(req.spki)
        except CryptoError:
            raise VerifyError("hke-key")
        # Bit length, not octet length: "exactly the same parameters (key size, etc.)" (§3.1).
        if hke.bits != check.key.bits or hke.e != check.key.e:
            raise VerifyError("hke-params")
        if hke == check.key:
            raise VerifyError("hke-is-cga-key")
        return req, hke

    def _admit(self, src, now_ms):
        """The flood-control gate in front of every RSA operation an RtSolPr causes."""
        if not self._sources.take(src, now_ms):
            return False
        if src[8] >> 5 == 0 and self.table.peek(src, now_ms) < 0:
            # A Sec 0 CGA without a key here: the cheapest kind to mint by the thousand.
            if not (self._sec0_bucket.available(now_ms) and self._rtsolpr_bucket.available(now_ms)):
                return False
            self._sec0_bucket.take(now_ms)
        return self._rtsolpr_bucket.take(now_ms)

    def _on_rtsolpr(self, frame, pkt, msg, now_ms, wall_s, frames, events):
        # The New AP option picks the PrRtAdv's neighbour; read before anything changes, so
        # that a malformed LLA option drops the message (DecodeError) with no state touched.
        neighbor, asked = self._neighbor_for(frame, msg)
        # Every answer echoes the Nonce option, octet for octet, and must fit the transmit
        # buffer (ND messages are not fragmented): a Nonce that leaves no room for the rest
        # of the PrRtAdv drops the message here, before anything changes.
        room = self._prrtadv_room(neighbor, asked)
        nonce_opt = msg.find(ndopt.OPT_NONCE)
        if nonce_opt is not None:
            room -= nonce_opt[2]
            if room < 0:
                events.append(("dropped", {"reason": "nonce-length"}))
                return
        src = bytes(pkt.src)
        if not self._admit(src, now_ms):
            events.append(("rate-limited", {"source": src}))
            return
        nonce = None
        if nonce_opt is not None:
            nonce = bytes(ndopt.get_nonce(frame, nonce_opt[1], nonce_opt[2]))
        try:
            check, ts, nonce = self._check_rtsolpr(frame, pkt, msg, now_ms, wall_s)
            req, hke = self._hke_key(frame, msg, check)
        except VerifyError as e:
            # RFC 5269 §3.2: answer, but provision nothing and touch no key record.
            events.append(("rtsolpr-rejected", {"source": src, "reason": e.reason}))
            if e.reason != "source":
                frames.append(self._prrtadv(neighbor, asked, msg.identifier, src, nonce, None, wall_s))
            return
        self.replay.commit(pkt.src, ts, nonce, now_ms, wall_s)
        reply = None
        if req is not None:
            at = algorithms.negotiate(req.at, self.ats)
            if at is None:
                events.append(("rtsolpr-no-key", {"source": src, "reason": "at", "requested_at": req.at}))
            elif (6 + hke.size + 7) & ~7 > room:
                # The Handover Key Reply would not fit beside this Nonce: answered without one.
                events.append(("rtsolpr-no-key", {"source": src, "reason": "too-big"}))
            else:
                reply = self._provision(src, check.key_hash, at, hke, now_ms, events)
        frames.append(self._prrtadv(neighbor, asked, msg.identifier, src, nonce, reply, wall_s))

    def _provision(self, mn, key_hash, at, hke, now_ms, events):
        """Reuse the key of this CGA and CGA public key while valid, else make one (RFC 5269 §3.2, §3.6)."""
        table = self.table
        slot = table.lookup(mn, now_ms)
        # Reuse only with at least a second left, so the Key Lifetime sent is never longer than the key.
        if (
            slot >= 0
            and table.at(slot) == at
            and table.fingerprint_matches(slot, key_hash)
            and table.expiry_ms(slot) - now_ms >= 1000
        ):
            key = bytes(table.key(slot))
            expires_ms = table.expiry_ms(slot)
            reused = True
        else:
            if slot < 0 and not self._room_for_new_key(now_ms):
                events.append(("rtsolpr-no-key", {"source": mn, "reason": "table-full"}))
                return None
            key = crypto.random_bytes(algorithms.key_len(at))
            expires_ms = now_ms + self.hk_lifetime_s * 1000
            table.put(mn, key_hash, at, key, expires_ms, now_ms)
            reused = False
        lifetime = (expires_ms - now_ms) // 1000
        if lifetime < 1:
            lifetime = 1
        enc = crypto.rsa_encrypt(hke, key)
        events.append(("key-provisioned", {"mn": mn, "at": at, "lifetime": lifetime, "reused": reused}))
        return at, lifetime, enc

    def _room_for_new_key(self, now_ms):
        """Flood control for a full table: a newcomer may displace only the least recently used
        unpinned key, and only once that key is older than key_protect_s. Keys in use (an FBU
        verified with them) are pinned. So a flood of valid CGAs can take free slots but
        cannot push out keys that legitimate nodes were given recently or are using; while
        every key is young the newcomer is answered without a key (RFC 5269 §3.2 allows no
        provisioning; it says nothing of a full table) and may ask again later."""
        table = self.table
        victim = table.eviction_candidate(now_ms)
        if victim < 0:
            return True
        if table.is_pinned(victim):
            return False
        born_ms = table.expiry_ms(victim) - self.hk_lifetime_s * 1000
        return now_ms - born_ms >= self.key_protect_s * 1000

    def _neighbor_for(self, frame, msg):
        for o in msg.find_all(ndopt.OPT_LLA):
            lla = ndopt.get_lla(frame, o[1], o[2])
            if lla.code == ndopt.LLA_NEW_AP:
                for n in self.neighbors:
                    # The option's LLA field runs to the padding; the link type sets the length.
                    if bytes(lla.lla[: len(n.ap_lla)]) == n.ap_lla:
                        return n, lla
                return None, lla
        return None, None

    def _prrtadv(self, neighbor, asked, ident, dst, nonce, reply, wall_s):
        """A signed PrRtAdv to the RtSolPr's source: neighbour information, CGA, Timestamp,
        the copied Nonce and, when provisioning, the Handover Key Reply (I§4, I§5)."""
        buf = self._tx
        off = ipv6.encode_header(buf, 0, 0, _NH_ICMPV6, _HOP_LIMIT_ND, self.link_local, dst)
        icmp_off = off
        off = self._prrtadv_head(buf, off, neighbor, asked, ident)
        off = ndopt.put_timestamp(buf, off, ndopt.timestamp_from_wall(wall_s))
        if nonce is not None:
            off = ndopt.put_nonce(buf, off, nonce)
        if reply is not None:
            at, lifetime, enc = reply
            off = ndopt.put_hk_reply(buf, off, at, lifetime, enc)
        end = signature.sign(self.key, buf, 0, icmp_off, off)
        return bytes(buf[:end])

    def _prrtadv_room(self, neighbor, asked):
        """Octets a PrRtAdv for this neighbour has left for its Nonce and Handover Key Reply
        options, beside the header, the neighbour options, the CGA, Timestamp and RSA Signature
        options. (The head is laid out in the transmit buffer, which every reply rebuilds.)"""
        end = self._prrtadv_head(self._tx, _IPV6_HDR, neighbor, asked, 0)
        return len(self._tx) - end - _TS_OPT - ((20 + self.key.size + 7) & ~7)

    def _prrtadv_head(self, buf, off, neighbor, asked, ident):
        """The PrRtAdv's ICMPv6 header and the options fixed by the neighbour, up to and
        including this router's CGA option; returns the offset after them. (router_fast.py
        keeps this part per neighbour.)"""
        code = icmp.PRRTADV_TUPLE if neighbor is not None else icmp.PRRTADV_NO_NEW_ROUTER
        off = icmp.encode_prrtadv(buf, off, code, ident)
        if self.lla:
            off = ndopt.put_lla(buf, off, ndopt.LLA_SOURCE, self.lla)
        if neighbor is not None:
            off = ndopt.put_lla(buf, off, ndopt.LLA_NEW_AP, neighbor.ap_lla)
            off = ndopt.put_lla(buf, off, ndopt.LLA_NAR, neighbor.nar_lla)
            off = ndopt.put_ip_addr(buf, off, ndopt.IPA_NAR_ADDR, 128, neighbor.nar_address)
            if neighbor.nar_prefix[: neighbor.prefix_len // 8] != neighbor.nar_address[: neighbor.prefix_len // 8]:
                off = ndopt.put_ip_addr(buf, off, ndopt.IPA_NAR_PREFIX, neighbor.prefix_len, neighbor.nar_prefix)
        elif asked is not None:
            # Code 2: each requested AP is reported with "no fast handover support" (RFC 5568 §6.1.2).
            off = ndopt.put_lla(buf, off, ndopt.LLA_NO_FAST_HANDOVER, bytes(asked.lla[:_ETH_LLA]))
        return ndopt.put_cga(buf, off, self.cga_params)

    # -- CPS -> CPA (RFC 3971 §6.4) --

    def _on_cps(self, frame, pkt, msg, frames, events):
        if msg.identifier == 0:
            # RFC 3971 §6.4.1: the Identifier MUST NOT be zero; §6.4.5: a CPS that does not
            # conform to the message format is silently discarded.
            events.append(("dropped", {"reason": "cps-identifier"}))
            return
        names = []
        for o in msg.find_all(ndopt.OPT_TRUST_ANCHOR):
            ta = ndopt.get_trust_anchor(frame, o[1], o[2])
            if ta.name_type == ndopt.NAME_DER:
                names.append(bytes(ta.name))
        if names and not any(n in self.anchor_names for n in names):
            events.append(("cps-ignored", {"reason": "anchor"}))
            return
        total = len(self.cert_path)
        if total == 0:
            return
        if pkt.src == _UNSPECIFIED:
            dst = _ALL_NODES
            ident = 0
        else:
            dst = solicited_node(pkt.src)
            ident = msg.identifier
        anchors = [n for n in self.anchor_names if not names or n in names]
        want = msg.component
        # Certificates from just below the anchor down to this router's; Component counts down to 0.
        for i in range(total):
            component = total - 1 - i
            if want != icmp.CPS_ALL_COMPONENTS and want != component:
                continue
            frames.append(self._cpa(dst, ident, total, component, self.cert_path[i], anchors if i == 0 else ()))
        events.append(("cpa-sent", {"components": total if want == icmp.CPS_ALL_COMPONENTS else 1}))

    def _cpa(self, dst, ident, total, component, cert, anchors):
        buf = self._tx
        off = ipv6.encode_header(buf, 0, 0, _NH_ICMPV6, _HOP_LIMIT_ND, self.link_local, dst)
        off = icmp.encode_cpa(buf, off, ident, total, component)
        for name in anchors:
            off = ndopt.put_trust_anchor(buf, off, ndopt.NAME_DER, name)
        off = ndopt.put_certificate(buf, off, 1, cert)
        ipv6.finish(buf, 0, off)
        return bytes(buf[:off])

    # -- FBU -> FBack (RFC 5269 §3.5, RFC 5568 §6.2) --

    def _on_mh(self, frame, pkt, now_ms, frames, events):
        # router_fast.py repeats every check up to the MAC for CPython; a change here belongs
        # there too (tests/host/test_router_fast.py compares the two paths).
        m = mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
        if m.mh_type != mh.MH_FBU:
            return
        pcoa = pkt.home_address
        if pcoa is None:
            events.append(("fbu-rejected", {"reason": "no-hao"}))
            return
        pcoa = bytes(pcoa)
        fwd = self.forwarding.get(pcoa)
        if fwd is not None and now_ms >= fwd[1]:
            # Forwarding timed out and poll() has not run yet: it ends now, key and all, as
            # poll() would have ended it; the FBU then finds no key.
            self._end_forwarding(pcoa, events)
        table = self.table
        # No LRU change until the MAC verifies: an FBU that fails a check leaves the key's
        # place as it was (the pin in _fbu_verified makes it the most recently used).
        slot = table.find(pcoa, now_ms)
        if slot < 0:
            # RFC 5269 §3.5: no key, no change in forwarding.
            events.append(("fbu-rejected", {"pcoa": pcoa, "reason": "no-key"}))
            return
        at = table.at(slot)
        alen = algorithms.auth_len(at)
        if m.badf_spi != mh.SPI_HANDOVER_KEY or m.auth_len != alen or (
            m.badf_len_field != alen + 4 and m.badf_len_field != alen
        ):
            events.append(("fbu-rejected", {"pcoa": pcoa, "reason": "badf"}))
            return
        ncoa = m.alt_coa if m.alt_coa is not None else pkt.src
        parts = mh.badf_mac_parts(frame, m.off, m.auth_off, ncoa, pkt.dst)
        received = memoryview(frame)[m.auth_off : m.auth_off + alen]
        if not algorithms.authenticator_matches(at, table.key(slot), received, *parts):
            events.append(("fbu-rejected", {"pcoa": pcoa, "reason": "mac"}))
            return
        self._fbu_verified(pcoa, bytes(ncoa), m.seq, m.flags, m.lifetime, at, slot, pkt.src, pkt.dst, now_ms,
                           frames, events)

    def _fbu_verified(self, pcoa, ncoa, seq, flags, lifetime, at, slot, src, dst, now_ms, frames, events):
        """The rest of an FBU whose BADF verified: sequence check, forwarding, event, FBack(s).
        Shared with the CPython fast path (router_fast.py); src and dst are the FBU's addresses."""
        fwds = self.forwarding
        fwd = fwds.get(pcoa)
        if fwd is not None:
            # _seq_newer(seq, fwd[2]) written out: this runs for every accepted FBU.
            d = (seq - fwd[2]) & 0xFFFF
            if d == 0 or d >= 0x8000:
                events.append(("fbu-rejected", {"pcoa": pcoa, "reason": "sequence"}))
                return
        if lifetime > FBU_LIFETIME_MAX_S:
            lifetime = FBU_LIFETIME_MAX_S
        if lifetime:
            if fwd is None and len(fwds) >= FORWARDING_CAPACITY:
                self._drop_oldest_forwarding(events)
            fwds[pcoa] = [ncoa, now_ms + lifetime * 1000, seq]
            # The key is in use: keep it from being evicted by newcomers (flood control), as
            # the most recently used pinned key.
            self.table.pin(slot)
        events.append(("fbu-accepted", {"pcoa": pcoa, "ncoa": ncoa, "seq": seq, "lifetime": lifetime}))
        if flags & mh.FBU_A:
            key = bytes(self.table.key(slot))
            src = bytes(src)
            fb_src = bytes(dst)
            frames.append(self._fback(fb_src, src, ncoa, seq, lifetime, at, key))
            if ncoa != src:
                # Predictive mode: the MN may already be on the new link (RFC 5568 §3.1).
                frames.append(self._fback(fb_src, ncoa, ncoa, seq, lifetime, at, key))
        if not lifetime:
            # Lifetime 0 asks for no forwarding: the handover is over, and the key with it
            # (after the FBacks, which it authenticates).
            self._end_forwarding(pcoa, events)

    def _drop_oldest_forwarding(self, events):
        oldest = None
        for p, f in self.forwarding.items():
            if oldest is None or f[1] < self.forwarding[oldest][1]:
                oldest = p
        if oldest is not None:
            self._end_forwarding(oldest, events)

    def _fback(self, src, dst, ncoa, seq, lifetime, at, key):
        """FBack with BADF: CoA = the NCoA the FBU registered, PAR = this FBack's source (I§2)."""
        buf = self._tx
        off = ipv6.encode_header(buf, 0, 0, mh.IPPROTO_MH, 64, src, dst)
        mh_off = off
        alen = algorithms.auth_len(at)
        end, auth_off = mh.encode_fback(buf, off, mh.FBACK_ACCEPTED, 0, seq, lifetime, alen)
        parts = mh.badf_mac_parts(buf, mh_off, auth_off, ncoa, src)
        mh.set_authenticator(buf, auth_off, alen, algorithms.mac(at, key, *parts))
        ipv6.finish(buf, 0, end)
        return bytes(buf[:end])

    # -- key store across restarts (keystore.py); the agent's `call` signature (now_ms, wall_s, *args) --

    def checkpoint(self, now_ms, wall_s, path, secret):
        """Seal the live key table into `path` with the next generation: ([], [keys-checkpointed])
        or ([], [checkpoint-failed]). `secret` is the device secret (bytes, or hex text)."""
        from . import keystore

        return keystore.router_checkpoint(self, now_ms, wall_s, path, secret)

    def restore(self, now_ms, wall_s, path, secret):
        """Put back the keys of the last checkpoint: ([], [keys-restored]) or, for a torn,
        tampered, foreign or replayed store, ([], [restore-refused]) with the table untouched."""
        from . import keystore

        return keystore.router_restore(self, now_ms, wall_s, path, secret)


def _seq_newer(seq, last):
    """RFC 6275 §9.5.1 ordering modulo 2^16: seq is newer than last."""
    d = (seq - last) & 0xFFFF
    return 0 < d < 0x8000
