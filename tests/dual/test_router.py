"""The access router engine against RFC 5269 §3.2, §3.5, §3.6 and §4.1 (docs/requirements.md).

Each test drives a Router built from the fixture config with RtSolPrs, CPSs and FBUs made here
(tests/dual/engines.py) and decodes what comes back with the firmware wire codecs.
"""

import engines as E
from dualtest import raises, read_fixture
from handoverkey import crypto
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.errors import VerifyError
from handoverkey.send import certpath, x509
from handoverkey.wire import icmp, ipv6, mh, ndopt

NONCE = b"\x01\x02\x03\x04\x05\x06"
NCOA_OTHER = bytes.fromhex("20010db8000200000000000000000abc")


def _mn():
    return E.Identity(E.mobile_cfg())


def _mn2():
    return E.Identity(E.mobile_cfg(second=True))


def _par():
    return E.RouterIdentity(E.router_cfg())


def _send(router, frame, now_ms=0):
    return router.handle(frame, now_ms, E.wall(now_ms))


def _request(mn, router_id, at=1, hke=None, now_ms=0, **kw):
    """A legitimate RtSolPr from mn at now_ms, carrying the HKE public key hke (default: the pool's first)."""
    hke = mn.hke[0] if hke is None else hke
    return E.make_rtsolpr(mn, router_id.link_local, hke.public.spki(), at=at, wall_s=E.wall(now_ms), **kw)


def _kinds(events):
    return [e[0] for e in events]


def _only(frames):
    assert len(frames) == 1, "expected exactly one frame, got %d" % len(frames)
    return frames[0]


def _provision(router, mn, router_id, at=1, hke=None, now_ms=0):
    """A legitimate exchange; returns (PrRtAdv, handover key decrypted with the HKE private key)."""
    hke = mn.hke[0] if hke is None else hke
    frames, events = _send(router, _request(mn, router_id, at, hke, now_ms), now_ms)
    assert "key-provisioned" in _kinds(events), events
    reply = _only(frames)
    return reply, E.decrypt_reply(reply, hke)


def _answered_without_key(frames, src, nonce=None):
    """The SHOULD of §3.2: an answer, a signed PrRtAdv to the source, but no Handover Key Reply."""
    f = _only(frames)
    pkt, msg = E.icmp_of(f)
    assert E.kind(f) == "prrtadv"
    assert bytes(pkt.dst) == bytes(src)
    assert ndopt.OPT_HK_REPLY not in E.option_types(f)
    assert E.signer(f) == _par().key.public
    if nonce is not None:
        assert E.get_nonce(f) == nonce
    return f


def test_prrtadv_layout():
    """3.2-10, 3.2-11, 3.2-13, 3.2-15, 3.2-17, 3.2-18, 4.2-2: a signed PrRtAdv unicast to the RtSolPr's
    source CGA, identifier and nonce copied, with the HK Reply (AT, lifetime, encrypted key)."""
    mn, par = _mn(), _par()
    router = E.make_router()
    hke = mn.hke[0]
    target_ap = bytes.fromhex(E.mobile_cfg()["target_ap"])
    req = _request(mn, par, at=1, identifier=0x1357, nonce=NONCE, target_ap=target_ap)
    frames, events = _send(router, req)
    assert _kinds(events) == ["key-provisioned"]
    f = _only(frames)
    pkt, msg = E.icmp_of(f)
    # Addresses and header: from the router's link-local CGA, back to the RtSolPr's source (the PCoA).
    assert bytes(pkt.src) == par.link_local
    assert bytes(pkt.dst) == mn.pcoa
    assert pkt.hop_limit == 255
    assert msg.type == icmp.ICMP_FMIPV6 and msg.subtype == icmp.SUB_PRRTADV
    assert msg.code == icmp.PRRTADV_TUPLE  # the target AP is a known neighbour
    assert msg.identifier == 0x1357
    types = E.option_types(f)
    # SEND options, the copied nonce, the Handover Key Reply; the signature is last.
    assert types.count(ndopt.OPT_RSA_SIG) == 1 and types[-1] == ndopt.OPT_RSA_SIG
    assert msg.sig_off == msg.options[-1][1]
    for t in (ndopt.OPT_CGA, ndopt.OPT_TIMESTAMP, ndopt.OPT_NONCE, ndopt.OPT_HK_REPLY):
        assert types.count(t) == 1, t
    assert E.get_nonce(f) == NONCE
    assert E.get_timestamp(f) == ndopt.timestamp_from_wall(E.WALL_S)
    assert E.cga_params(f) == par.cga_params
    # The CGA option vouches for the source and the signature verifies with the router's key.
    assert E.signer(f) == par.key.public
    reply = E.hk_reply(f)
    assert reply.at == 1
    assert reply.lifetime == 43200
    assert len(reply.enc_key) == hke.public.size
    # Option 28 as sent: reserved nibble zero, padding zero and minimal.
    o = msg.find(ndopt.OPT_HK_REPLY)
    assert f[o[1] + 3] & 0x0F == 0
    assert reply.pad_len < 8 and bytes(f[o[1] + o[2] - reply.pad_len : o[1] + o[2]]) == bytes(reply.pad_len)
    # The encrypted key is the stored key, under the HKE public key of the request.
    key = E.decrypt_reply(f, hke)
    assert len(key) == 32
    assert E.table_entry(router, mn.pcoa)[3] == key
    # The HK Reply is inside the signed part: change one octet of it and the signature fails.
    bad = bytearray(f)
    bad[o[1] + 6] ^= 1
    ipv6.finish(bad, 0, len(bad))
    raises(VerifyError, E.signer, bytes(bad))


def _invalid_variants(mn, par, now_ms):
    """(name, RtSolPr from mn's PCoA that fails a check, expected reason); all at now_ms."""
    w = E.wall(now_ms)
    hke = mn.hke[0]
    mn2 = _mn2()
    out = []
    sig = bytearray(_request(mn, par, now_ms=now_ms))
    sig[len(sig) - 10] ^= 0x40
    ipv6.finish(sig, 0, len(sig))
    out.append(("bad signature", bytes(sig), "signature"))
    out.append(("signed by another key", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w,
                                                       signer_key=mn2.cga_key), "key-hash"))
    out.append(("CGA parameters of another key", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w,
                                                               params=mn2.params, signer_key=mn2.cga_key), "cga"))
    out.append(("no CGA option", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w,
                                               omit=(ndopt.OPT_CGA,)), "no-cga"))
    out.append(("stale timestamp", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w - 400), "timestamp"))
    out.append(("future timestamp", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w + 400), "timestamp"))
    out.append(("no timestamp", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w,
                                              omit=(ndopt.OPT_TIMESTAMP,)), "no-timestamp"))
    out.append(("no nonce", E.make_rtsolpr(mn, par.link_local, hke.public.spki(), wall_s=w,
                                          omit=(ndopt.OPT_NONCE,)), "no-nonce"))
    big = E.Identity(E.mobile_cfg(2048)).hke[0]
    out.append(("HKE key of another size", E.make_rtsolpr(mn, par.link_local, big.public.spki(), wall_s=w), "hke-params"))
    e3 = bytes.fromhex(E.config("extra")["hke_e3_spki"])
    out.append(("HKE key with another exponent", E.make_rtsolpr(mn, par.link_local, e3, wall_s=w), "hke-params"))
    out.append(("HKE key = CGA key", E.make_rtsolpr(mn, par.link_local, mn.cga_key.public.spki(), wall_s=w),
                "hke-is-cga-key"))
    out.append(("HKE key not an SPKI", E.make_rtsolpr(mn, par.link_local, b"\x30\x03\x02\x01\x05", wall_s=w), "hke-key"))
    return out


def test_invalid_rtsolpr_answered_without_key():
    """3.2-1, 3.2-2, 3.2-4: an RtSolPr that fails any SEND or RFC 5269 check is answered with a
    signed PrRtAdv that carries no Handover Key Reply, and nothing is provisioned."""
    mn, par = _mn(), _par()
    router = E.make_router()
    now = 0
    for name, frame, reason in _invalid_variants(mn, par, now):
        frames, events = _send(router, frame, now)
        assert _kinds(events) == ["rtsolpr-rejected"], (name, events)
        assert events[0][1]["reason"] == reason, (name, events[0][1]["reason"])
        f = _answered_without_key(frames, mn.pcoa, E.get_nonce(frame))
        assert E.hk_reply(f) is None, name
        assert router.snapshot()["keys"] == [], name
    # A replay of an accepted RtSolPr is answered the same way.
    req = _request(mn, par, now_ms=1000)
    frames, events = _send(router, req, 1000)
    assert E.hk_reply(_only(frames)) is not None
    frames, events = _send(router, req, 2000)
    assert _kinds(events) == ["rtsolpr-rejected"] and events[0][1]["reason"] == "replay"
    _answered_without_key(frames, mn.pcoa, E.get_nonce(req))
    # A hop limit other than 255 means the message came from off-link: dropped (RFC 3971 §7.1).
    frames, events = _send(router, _request(mn, par, now_ms=3000, hop_limit=254), 3000)
    assert frames == [] and _kinds(events) == ["dropped"] and events[0][1]["reason"] == "hop-limit"


def test_failed_checks_leave_key_table_untouched():
    """3.2-3, 3.2-5: after a legitimate provisioning, invalid RtSolPrs for the same source CGA change
    no key record (snapshot identical) and provision nothing; the legitimate key still works."""
    mn, par = _mn(), _par()
    router = E.make_router()
    legit = _request(mn, par, now_ms=0)
    frames, events = _send(router, legit, 0)
    key = E.decrypt_reply(_only(frames), mn.hke[0])
    before = router.snapshot()
    assert len(before["keys"]) == 1 and before["keys"][0][3] == key
    now = 1000
    # A future timestamp fails only for a new peer: from a known peer RFC 3971 §5.3.4.2 accepts it.
    attempts = [a for a in _invalid_variants(mn, par, now) if a[0] != "future timestamp"]
    attempts.append(("replay of the legitimate RtSolPr", legit, "replay"))
    attempts.append(("hop limit 64", _request(mn, par, now_ms=now, hop_limit=64), None))
    for name, frame, reason in attempts:
        frames, events = _send(router, frame, now)
        assert "key-provisioned" not in _kinds(events), name
        if reason is not None:
            assert events[0][1]["reason"] == reason, (name, events)
        for f in frames:
            assert E.hk_reply(f) is None, name
        assert router.snapshot() == before, name
    # The record is intact in use too: the FBU made with the first key is accepted, and a new
    # legitimate RtSolPr gets that same key back.
    fbu = E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1)
    frames, events = _send(router, fbu, 2000)
    assert _kinds(events) == ["fbu-accepted"]
    reply, again = _provision(router, mn, par, now_ms=3000)
    assert again == key


def test_malformed_lla_option_drops_before_any_state_change():
    """RFC 4861 §4.6: a malformed option drops the message. An LLA option with an undefined
    Code is malformed, and the router reads the LLA options for the PrRtAdv's neighbour: it
    must find that out before the replay memory, the key table or the rate limits change."""
    mn, par = _mn(), _par()
    router = E.make_router()
    req = _request(mn, par, now_ms=0)

    def bad_lla(t, raw):
        # The wildcard LLA option's Code octet set to 9 (codes end at 7, RFC 5568 §6.4.3).
        return raw[:2] + b"\x09" + raw[3:] if t == ndopt.OPT_LLA else raw

    bad = E.resign(req, mn.cga_key, bad_lla)
    before = router.snapshot()
    peers = router.replay.peer_count()
    frames, events = _send(router, bad, 0)
    assert frames == [] and events == [("dropped", {"reason": "decode"})]
    assert router.snapshot() == before and router.replay.peer_count() == peers
    # Nothing was spent or remembered: the well-formed RtSolPr with the same nonce is provisioned.
    frames, events = _send(router, req, 0)
    assert "key-provisioned" in _kinds(events), events


def test_same_cga_same_key():
    """3.2-6, 3.2-7, 3.2-19, 3.6-5: the key is stored under the CGA with the CGA key's fingerprint,
    AT and expiry; a new RtSolPr from the same CGA and CGA key gets the same key back (decrypted
    here with each request's HKE private key), with the remaining lifetime."""
    mn, par = _mn(), _par()
    router = E.make_router()
    k1, k2 = mn.hke[0], mn.hke[1]
    assert k1.public != k2.public
    frames, events = _send(router, _request(mn, par, hke=k1, now_ms=0), 0)
    assert events[0][1]["reused"] is False
    first = E.decrypt_reply(_only(frames), k1)
    entry = E.table_entry(router, mn.pcoa)
    assert entry == [mn.pcoa, mn.cga_key.public.key_hash()[:4], 1, first, 43200 * 1000]
    # Same CGA, same CGA public key, another HKE key pair, five seconds later.
    frames, events = _send(router, _request(mn, par, hke=k2, now_ms=5000), 5000)
    assert _kinds(events) == ["key-provisioned"] and events[0][1]["reused"] is True
    reply = E.hk_reply(_only(frames))
    second = E.decrypt_reply(_only(frames), k2)
    assert second == first
    # The lifetime is what is left of the stored key, so both ends expire together.
    assert 5000 + reply.lifetime * 1000 == 43200 * 1000
    assert E.table_entry(router, mn.pcoa) == entry


def test_new_public_key_gets_new_key():
    """3.6-2: a key is unique to a CGA public key. Another key (and so another CGA) gets another
    key; and a record for this CGA made for a different public key is not handed out."""
    mn, mn2, par = _mn(), _mn2(), _par()
    assert mn.cga_key.public != mn2.cga_key.public
    router = E.make_router()
    _, key1 = _provision(router, mn, par, now_ms=0)
    _, key2 = _provision(router, mn2, par, hke=mn2.hke[0], now_ms=0)
    assert key1 != key2
    fp1 = E.table_entry(router, mn.pcoa)[1]
    fp2 = E.table_entry(router, mn2.pcoa)[1]
    assert fp1 == mn.cga_key.public.key_hash()[:4] and fp2 == mn2.cga_key.public.key_hash()[:4]
    assert fp1 != fp2
    # A record under mn's CGA whose fingerprint is another public key's: a fresh key replaces it.
    planted = b"\x5a" * 32
    for fp, expect_reuse in ((mn2.cga_key.public.key_hash(), False), (mn.cga_key.public.key_hash(), True)):
        router = E.make_router()
        router.table.put(mn.pcoa, fp, 1, planted, 43200 * 1000, 0)
        frames, events = _send(router, _request(mn, par, now_ms=1000), 1000)
        assert events[0][1]["reused"] is expect_reuse
        got = E.decrypt_reply(_only(frames), mn.hke[0])
        if expect_reuse:
            # The control case: the planted record is served when the public key matches.
            assert got == planted
        else:
            assert got != planted
            assert E.table_entry(router, mn.pcoa)[1:4] == [mn.cga_key.public.key_hash()[:4], 1, got]


def test_keys_random_and_unique():
    """3.2-8, 3.6-1, 3.6-3: each new key is a fresh draw from the random source, of the AT's key
    length, different for every CGA and from every key in sight."""
    mn, mn2, par = _mn(), _mn2(), _par()
    extra = E.config("extra")
    sources = [(mn, 1), (mn2, 0)]
    for a, p in extra["mn1_cgas"]:
        ident = _mn()
        ident.pcoa = bytes.fromhex(a)
        ident.params = bytes.fromhex(p)
        sources.append((ident, len(sources) & 1))
    router = E.make_router(hk_lifetime=60)
    spy = E.Spy("random_bytes")
    keys = []
    try:
        for ident, at in sources:
            mark = len(spy.calls)
            hke = ident.hke[0]
            frames, events = _send(router, _request(ident, par, at=at, hke=hke, now_ms=0), 0)
            assert events[0][1]["reused"] is False
            key = E.decrypt_reply(_only(frames), hke)
            drawn = [c[2] for c in spy.calls[mark:] if c[1][0] == E.KEY_LEN[at]]
            assert key in drawn, "the key is not a random_bytes(%d) draw" % E.KEY_LEN[at]
            assert E.table_entry(router, ident.pcoa)[3] == key and len(key) == E.KEY_LEN[at]
            keys.append(key)
        # After the first key expired, the same CGA gets a new key, again a fresh draw.
        mark = len(spy.calls)
        frames, events = _send(router, _request(mn, par, at=1, now_ms=61000), 61000)
        assert events[0][1]["reused"] is False
        renewed = E.decrypt_reply(_only(frames), mn.hke[0])
        assert renewed in [c[2] for c in spy.calls[mark:]]
        keys.append(renewed)
    finally:
        spy.restore()
    # A second router draws its own key for the same CGA.
    _, other = _provision(E.make_router(), mn, par, now_ms=0)
    keys.append(other)
    for i in range(len(keys)):
        for j in range(i + 1, len(keys)):
            assert keys[i] != keys[j]
        # Uncorrelated with the CGA and HKE keys: no key appears inside their encodings.
        assert keys[i] != bytes(len(keys[i]))
        for blob in (mn.cga_key.public.spki(), mn2.cga_key.public.spki(), mn.hke[0].public.spki()):
            assert keys[i] not in blob


def test_at_negotiation():
    """3.2-12 (I§1): the requested AT when supported, else the weakest supported one at least as
    strong, else no key (never a weaker one); the stored AT and key length follow the answer."""
    mn, par = _mn(), _par()
    cases = (
        ([0, 1], 0, 0), ([0, 1], 1, 1),
        ([1], 0, 1), ([1], 1, 1),
        ([0], 0, 0), ([0], 1, None),
        ([0, 1], 2, None), ([0, 1], 15, None),
    )
    for ats, asked, expect in cases:
        router = E.make_router(ats=ats)
        frames, events = _send(router, _request(mn, par, at=asked), 0)
        f = _only(frames)
        reply = E.hk_reply(f)
        if expect is None:
            assert reply is None, (ats, asked)
            assert _kinds(events) == ["rtsolpr-no-key"] and events[0][1]["reason"] == "at"
            assert router.snapshot()["keys"] == []
            assert bytes(E.icmp_of(f)[0].dst) == mn.pcoa  # still answered
        else:
            assert reply.at == expect, (ats, asked, reply.at)
            entry = E.table_entry(router, mn.pcoa)
            assert entry[2] == expect
            assert len(entry[3]) == E.KEY_LEN[expect]
            assert E.decrypt_reply(f, mn.hke[0]) == entry[3]


def _cps(ident, anchor_names, component=icmp.CPS_ALL_COMPONENTS, identifier=0x2468):
    buf = bytearray(600)
    off = ipv6.encode_header(buf, 0, 0, 58, 255, ident.link_local, E.ALL_ROUTERS)
    off = icmp.encode_cps(buf, off, identifier, component)
    for n in anchor_names:
        off = ndopt.put_trust_anchor(buf, off, ndopt.NAME_DER, n)
    ipv6.finish(buf, 0, off)
    return bytes(buf[:off])


def test_cps_answered_with_path():
    """3.2-14: the router answers certificate path solicitations (RFC 3971 §6.4) with its path,
    which validates from the mobile node's trust anchor to the key that signs its PrRtAdvs."""
    mn, par = _mn(), _par()
    anchor_der = bytes.fromhex(E.mobile_cfg()["trust_anchors"][0])
    anchor_name = bytes(x509.parse(anchor_der).subject)
    router = E.make_router()
    frames, events = _send(router, _cps(mn, [anchor_name]))
    assert len(frames) == len(par.cert_path) == 2
    path = [None, None]
    for f in frames:
        pkt, msg = E.icmp_of(f)
        assert msg.type == icmp.ICMP_CPA
        assert bytes(pkt.src) == par.link_local and pkt.hop_limit == 255
        assert bytes(pkt.dst) == b"\xff\x02" + bytes(9) + b"\x01\xff" + mn.link_local[13:]
        assert msg.identifier == 0x2468 and msg.all_components == 2
        certs = msg.find_all(ndopt.OPT_CERTIFICATE)
        assert len(certs) == 1
        c = ndopt.get_certificate(f, certs[0][1], certs[0][2])
        path[1 - msg.component] = bytes(c.cert)
        if msg.component == 1:
            ta = msg.find(ndopt.OPT_TRUST_ANCHOR)
            assert bytes(ndopt.get_trust_anchor(f, ta[1], ta[2]).name) == anchor_name
    assert path == par.cert_path
    key = certpath.validate_path([certpath.TrustAnchor.from_certificate(anchor_der)], path, E.WALL_S, mn.pcoa)
    assert key == par.key.public
    # One component on request: component 0 is the router's own certificate.
    frames, _ = _send(router, _cps(mn, [anchor_name], 0))
    assert len(frames) == 1 and E.icmp_of(frames[0])[1].component == 0
    # A solicitation naming only an anchor the router does not chain to gets no answer.
    other = bytes(x509.parse(read_fixture("pki/anchor_other.der")).subject)
    frames, events = _send(router, _cps(mn, [other]))
    assert frames == [] and _kinds(events) == ["cps-ignored"]
    # Identifier 0 is not a CPS (RFC 3971 §6.4.1 MUST NOT, §6.4.5 silently discarded).
    frames, events = _send(router, _cps(mn, [anchor_name], identifier=0))
    assert frames == [] and events == [("dropped", {"reason": "cps-identifier"})]


def test_rejected_fbu_leaves_the_key_table_order_alone():
    """A failed check changes no key record, LRU place included: a forged FBU naming a PCoA
    must not save that key from eviction at another node's expense. The accepted FBU makes
    its key the most recently used pinned one."""
    mn, mn2, par = _mn(), _mn2(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, at=1)
    _, key2 = _provision(router, mn2, par, at=1, now_ms=10)
    before = router.snapshot()
    assert [e[0] for e in before["keys"]] == [mn.pcoa, mn2.pcoa]  # least recently used first
    wrong_key = bytes([key[0] ^ 1]) + key[1:]
    for fbu in (E.make_fbu(wrong_key, 1, mn.pcoa, mn.ncoa, par.address, 1),
                E.make_fbu(key[:20], 0, mn.pcoa, mn.ncoa, par.address, 1)):
        _, events = _send(router, fbu, 1000)
        assert _kinds(events) == ["fbu-rejected"]
        assert router.snapshot() == before
    for k, m, seq in ((key, mn, 1), (key2, mn2, 1), (key, mn, 2)):
        _, events = _send(router, E.make_fbu(k, 1, m.pcoa, m.ncoa, par.address, seq), 2000)
        assert _kinds(events) == ["fbu-accepted"]
    after = router.snapshot()
    assert after["pinned"] == 2 and [e[0] for e in after["keys"]] == [mn2.pcoa, mn.pcoa]


def test_fbu_accepted_with_right_mac():
    """3.5-1, 3.5-2, 3.5-3: the key is found by the Home Address option and the BADF checked with
    it and its AT; a wrong MAC, a wrong algorithm or an unknown PCoA changes no forwarding."""
    mn, mn2, par = _mn(), _mn2(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, at=1)
    assert router.snapshot()["forwarding"] == []
    wrong_key = bytes([key[0] ^ 1]) + key[1:]
    rejected = (
        ("wrong MAC", E.make_fbu(wrong_key, 1, mn.pcoa, mn.ncoa, par.address, 1), "mac"),
        ("AT 0 MAC with an AT 1 key", E.make_fbu(key[:20], 0, mn.pcoa, mn.ncoa, par.address, 1), "badf"),
        ("HAO without a key", E.make_fbu(key, 1, mn2.pcoa, mn.ncoa, par.address, 1), "no-key"),
        ("HAO of another CGA, source PCoA", E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1, hao=mn2.pcoa),
         "no-key"),
    )
    for name, fbu, reason in rejected:
        frames, events = _send(router, fbu, 1000)
        assert frames == [], name
        assert _kinds(events) == ["fbu-rejected"] and events[0][1]["reason"] == reason, (name, events)
        assert router.snapshot()["forwarding"] == [], name
    # The right MAC: forwarding PCoA -> NCoA, and FBacks authenticated with the same key.
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1), 2000)
    assert _kinds(events) == ["fbu-accepted"]
    assert events[0][1]["pcoa"] == mn.pcoa and events[0][1]["ncoa"] == mn.ncoa
    assert router.snapshot()["forwarding"] == [[mn.pcoa, mn.ncoa, 2000 + 30 * 1000]]
    assert len(frames) == 2  # predictive: to the PCoA and to the NCoA
    assert sorted([bytes(E.mh_of(f)[0].dst) for f in frames]) == sorted([mn.pcoa, mn.ncoa])
    for f in frames:
        pkt, m = E.mh_of(f)
        assert m.mh_type == mh.MH_FBACK and m.status == 0 and m.seq == 1
        assert bytes(pkt.src) == par.address
        assert E.badf_ok(f, key, 1, mn.ncoa)
        assert not E.badf_ok(f, wrong_key, 1, mn.ncoa)
    # AT 0 end to end: a 12-octet HMAC-SHA1 authenticator, reactive mode (source NCoA, no Alternate CoA).
    other = _mn()
    a, p = E.config("extra")["mn1_cgas"][0]
    other.pcoa, other.params = bytes.fromhex(a), bytes.fromhex(p)
    _, key0 = _provision(router, other, par, at=0, now_ms=3000)
    assert len(key0) == 20
    frames, events = _send(router, E.make_fbu(key0, 0, other.pcoa, NCOA_OTHER, par.address, 7, predictive=False), 4000)
    assert _kinds(events) == ["fbu-accepted"] and events[0][1]["ncoa"] == NCOA_OTHER
    assert len(frames) == 1 and E.badf_ok(frames[0], key0, 0, NCOA_OTHER)


def test_key_survives_fbu():
    """3.6-4: a used key stays while valid: a second FBU (rapid movement) is accepted with it, and a
    new RtSolPr from the same CGA gets it back."""
    mn, par = _mn(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, at=1)
    entry = E.table_entry(router, mn.pcoa)
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1), 1000)
    assert _kinds(events) == ["fbu-accepted"]
    assert E.table_entry(router, mn.pcoa) == entry
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, NCOA_OTHER, par.address, 2), 2000)
    assert _kinds(events) == ["fbu-accepted"] and events[0][1]["ncoa"] == NCOA_OTHER
    assert E.table_entry(router, mn.pcoa) == entry
    _, again = _provision(router, mn, par, at=1, now_ms=3000)
    assert again == key


def test_key_expires_at_hk_lifetime():
    """3.6-8 (HK-LIFETIME part), 3.5-3: the key is used up to its lifetime and not after; poll()
    frees expired keys; the CGA then gets a new key."""
    mn, par = _mn(), _par()
    router = E.make_router(hk_lifetime=60)
    reply, key = _provision(router, mn, par, at=1, now_ms=1000)
    assert E.hk_reply(reply).lifetime == 60
    assert E.table_entry(router, mn.pcoa)[4] == 61000
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1), 60999)
    assert _kinds(events) == ["fbu-accepted"]
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 2), 61000)
    assert frames == [] and _kinds(events) == ["fbu-rejected"] and events[0][1]["reason"] == "no-key"
    assert E.table_entry(router, mn.pcoa) is None
    # poll() discards expired keys nobody looked up.
    router = E.make_router(hk_lifetime=60)
    _provision(router, mn, par, at=1, now_ms=1000)
    _, events = router.poll(60999, E.wall(60999))
    assert events == [] and E.table_entry(router, mn.pcoa) is not None
    _, events = router.poll(61000, E.wall(61000))
    assert events == [("keys-expired", {"count": 1})]
    assert router.snapshot()["keys"] == []
    _, fresh = _provision(router, mn, par, at=1, now_ms=62000)
    assert fresh != key


def test_hke_key_must_match_cga_key():
    """4.1-4, 3.1-1/3.1-3 as the router checks them: the HKE public key must be an RSA SPKI with
    the CGA key's size and exponent, and not the CGA key itself; otherwise no key is provisioned."""
    mn, par = _mn(), _par()
    mn_big = E.Identity(E.mobile_cfg(2048))
    e3 = bytes.fromhex(E.config("extra")["hke_e3_spki"])
    router = E.make_router()
    cases = (
        ("1024-bit CGA, 2048-bit HKE", mn, mn_big.hke[0].public.spki(), "hke-params"),
        ("2048-bit CGA, 1024-bit HKE", mn_big, mn.hke[0].public.spki(), "hke-params"),
        ("exponent 3 instead of 65537", mn, e3, "hke-params"),
        # The same 128 octets, 4 bits short: key size is counted in bits (§3.1, §4.1).
        ("1020-bit HKE beside a 1024-bit CGA key", mn, RsaPublicKey((1 << 1019) | 0xF00D, 65537).spki(),
         "hke-params"),
        ("the CGA key itself", mn, mn.cga_key.public.spki(), "hke-is-cga-key"),
        ("not a public key", mn, bytes(64), "hke-key"),
    )
    now = 0
    for name, ident, spki, reason in cases:
        now += 1000
        req = E.make_rtsolpr(ident, par.link_local, spki, wall_s=E.wall(now))
        frames, events = _send(router, req, now)
        assert _kinds(events) == ["rtsolpr-rejected"] and events[0][1]["reason"] == reason, (name, events)
        _answered_without_key(frames, ident.pcoa, E.get_nonce(req))
    assert router.snapshot()["keys"] == []
    # Same size and exponent, a different key: provisioned, for both key sizes.
    for ident in (mn, mn_big):
        now += 1000
        assert ident.hke[0].public.size == ident.cga_key.public.size
        assert ident.hke[0].public.e == ident.cga_key.public.e
        reply, key = _provision(router, ident, par, now_ms=now)
        assert len(key) == 32


def test_full_table_protects_young_and_used_keys():
    """Flood control: with the table full, a newcomer CGA is answered without a key while the
    least recently used key is younger than key_protect; afterwards it may displace it, unless
    that key is in use (an FBU verified with it pins it). A refused newcomer changes nothing."""
    mn, mn2, par = _mn(), _mn2(), _par()
    router = E.make_router(table_capacity=1, key_protect=600)
    _, key = _provision(router, mn, par, now_ms=0)
    before = router.snapshot()
    frames, events = _send(router, _request(mn2, par, now_ms=1000), 1000)
    assert _kinds(events) == ["rtsolpr-no-key"] and events[0][1]["reason"] == "table-full"
    assert E.hk_reply(_only(frames)) is None
    assert router.snapshot() == before
    # Older than key_protect and never used: the newcomer displaces it.
    _, key2 = _provision(router, mn2, par, now_ms=601000)
    assert [e[0] for e in router.snapshot()["keys"]] == [mn2.pcoa]
    # A key in use is pinned and survives a later newcomer even when old.
    router = E.make_router(table_capacity=1, key_protect=600)
    _, key = _provision(router, mn, par, now_ms=0)
    _, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1), 2000)
    assert _kinds(events) == ["fbu-accepted"]
    frames, events = _send(router, _request(mn2, par, now_ms=700000), 700000)
    assert _kinds(events) == ["rtsolpr-no-key"]
    assert [e[0] for e in router.snapshot()["keys"]] == [mn.pcoa]


def test_key_discarded_when_forwarding_times_out():
    """3.6-8: the PAR discards the key once FMIPv6 forwarding for the PCoA times out; the
    forwarding expiry is the engine's next deadline, and an FBU after it finds no key."""
    mn, par = _mn(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, now_ms=0)
    assert router.next_deadline() is None
    _, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1), 2000)
    assert _kinds(events) == ["fbu-accepted"]
    lifetime = events[0][1]["lifetime"]
    assert router.next_deadline() == 2000 + lifetime * 1000
    assert router.poll(2000 + lifetime * 1000 - 1, E.wall(0)) == ([], [])
    assert [e[0] for e in router.snapshot()["keys"]] == [mn.pcoa]
    frames, events = router.poll(2000 + lifetime * 1000, E.wall(0))
    assert frames == [] and _kinds(events) == ["forwarding-ended", "key-discarded"]
    assert router.snapshot() == {"keys": [], "pinned": 0, "forwarding": []}
    assert router.next_deadline() is None
    _, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 2), 2000 + lifetime * 1000 + 1)
    assert _kinds(events) == ["fbu-rejected"] and events[0][1]["reason"] == "no-key"


def test_fbu_with_lifetime_0_ends_forwarding_and_the_key():
    """3.6-8: forwarding ended by a Lifetime 0 FBU takes the key with it, after the FBacks it
    authenticates. The forwarding entry held the last sequence number: had the key stayed, a
    replay of an earlier FBU would have been accepted and forwarding restored."""
    mn, par = _mn(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, now_ms=0)
    captured = E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 5)
    _, events = _send(router, captured, 1000)
    assert _kinds(events) == ["fbu-accepted"]
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 6, lifetime=0), 2000)
    assert _kinds(events) == ["fbu-accepted", "forwarding-ended", "key-discarded"]
    assert len(frames) == 2 and all(E.badf_ok(f, key, 1, mn.ncoa) for f in frames)
    assert router.snapshot() == {"keys": [], "pinned": 0, "forwarding": []}
    frames, events = _send(router, captured, 3000)
    assert frames == [] and _kinds(events) == ["fbu-rejected"] and events[0][1]["reason"] == "no-key"
    assert router.snapshot()["forwarding"] == []
    # Without forwarding to end, Lifetime 0 still ends the key's use.
    _, key = _provision(router, mn, par, now_ms=4000)
    _, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1, lifetime=0), 5000)
    assert _kinds(events) == ["fbu-accepted", "key-discarded"]
    assert router.snapshot()["keys"] == []


def test_fbu_after_forwarding_timed_out_finds_no_key_without_a_poll():
    """3.6-8 whatever the poll() timing: an FBU arriving after forwarding timed out ends it (and
    the key) as poll() would have, and is then rejected for want of a key."""
    mn, par = _mn(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, now_ms=0)
    _, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1), 2000)
    end = 2000 + events[0][1]["lifetime"] * 1000
    _, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 2), end - 1)
    assert _kinds(events) == ["fbu-accepted"]  # renewed just in time
    end = end - 1 + events[0][1]["lifetime"] * 1000
    frames, events = _send(router, E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 3), end)
    assert frames == [] and _kinds(events) == ["forwarding-ended", "key-discarded", "fbu-rejected"]
    assert events[-1][1]["reason"] == "no-key"
    assert router.snapshot() == {"keys": [], "pinned": 0, "forwarding": []}
    assert router.poll(end, E.wall(0)) == ([], [])


def test_forwarding_displaced_by_a_full_table_takes_its_key():
    """The forwarding table is bounded: the FBU that finds it full displaces the entry that
    ends first, and that PCoA's key goes with it (its sequence record is gone)."""
    from handoverkey.router import FORWARDING_CAPACITY

    par = _par()
    n = FORWARDING_CAPACITY + 1
    router = E.make_router(table_capacity=n)
    key = bytes(range(32))
    pcoas = []
    for i in range(n):
        pcoa = bytes(_mn().pcoa[:14]) + bytes((i >> 8, i & 0xFF))
        pcoas.append(pcoa)
        router.table.put(pcoa, b"\x00\x00\x00\x00", 1, key, 600000, 0)
    for i in range(n - 1):
        _, events = _send(router, E.make_fbu(key, 1, pcoas[i], NCOA_OTHER, par.address, 1, lifetime=30 + i), 1000)
        assert _kinds(events) == ["fbu-accepted"]
    _, events = _send(router, E.make_fbu(key, 1, pcoas[-1], NCOA_OTHER, par.address, 1), 1000)
    assert events == [("forwarding-ended", {"pcoa": pcoas[0]}), ("key-discarded", {"pcoa": pcoas[0]}),
                      ("fbu-accepted", {"pcoa": pcoas[-1], "ncoa": NCOA_OTHER, "seq": 1, "lifetime": 30})]
    assert E.table_entry(router, pcoas[0]) is None and E.table_entry(router, pcoas[1]) is not None
    assert len(router.snapshot()["forwarding"]) == FORWARDING_CAPACITY


def test_nonce_that_cannot_be_echoed_is_dropped_before_any_change():
    """The PrRtAdv copies the RtSolPr's Nonce (I§4) and must fit the 1500-octet transmit buffer.
    RFC 3971 §5.3.2 bounds a nonce only from below, so a long one is legal: with room for the
    Handover Key Reply it is provisioned; with room only for an answer without a key it gets
    that answer (3.2: no key, nothing provisioned); with no room for any answer the RtSolPr is
    dropped before any check or state change. Never an exception out of handle()."""
    mn, mn2, par = _mn(), _mn2(), _par()
    router = E.make_router()
    frames, _ = _send(router, _request(mn, par, now_ms=0), 0)  # a 6-octet nonce: an 8-octet option
    free = 1500 - len(_only(frames))
    hk_reply_len = (6 + mn2.hke[0].public.size + 7) & ~7
    fits = 6 + (free // 8) * 8
    too_big = fits + 8
    no_room = 6 + ((free + hk_reply_len) // 8 + 1) * 8
    before = router.snapshot()
    frames, events = _send(router, _request(mn2, par, now_ms=1000, nonce=bytes(no_room)), 1000)
    assert frames == [] and events == [("dropped", {"reason": "nonce-length"})]
    assert router.snapshot() == before
    nonce = bytes(range(256)) * 4
    frames, events = _send(router, _request(mn2, par, now_ms=2000, nonce=nonce[:too_big]), 2000)
    assert events == [("rtsolpr-no-key", {"source": mn2.pcoa, "reason": "too-big"})]
    f = _answered_without_key(frames, mn2.pcoa, nonce[:too_big])
    assert len(f) <= 1500
    assert router.snapshot() == before
    frames, events = _send(router, _request(mn2, par, now_ms=3000, nonce=nonce[:fits]), 3000)
    assert _kinds(events) == ["key-provisioned"]
    assert len(_only(frames)) == 1500 - (free % 8) and E.get_nonce(frames[0]) == nonce[:fits]


def test_home_address_and_mobility_header_rules_drop_before_any_change():
    """RFC 6275 §9.2, §9.3.1 and I§5, before any key or forwarding is looked at: an MH whose
    Payload Proto is not 59 is discarded even with a valid BADF; a Home Address option is taken
    only before a Mobility Header and only for a unicast routable address; an RtSolPr from a
    link-local CGA gets no key (the PCoA must be the FBU's routable Home Address)."""
    from handoverkey.send import cga_gen

    mn, par = _mn(), _par()
    router = E.make_router()
    _, key = _provision(router, mn, par, now_ms=0)
    before = router.snapshot()
    fbu = bytearray(E.make_fbu(key, 1, mn.pcoa, mn.ncoa, par.address, 1))
    pkt, m = E.mh_of(bytes(fbu))
    fbu[m.off] = 6  # Payload Proto: TCP, the MAC made again over it
    fbu[m.auth_off : m.auth_off + 16] = E.badf_mac(1, key, fbu, m.off, m.auth_off, mn.ncoa, par.address)
    ipv6.finish(fbu, 0, len(fbu))
    frames, events = _send(router, bytes(fbu), 1000)
    assert frames == [] and events == [("dropped", {"reason": "decode"})]
    assert router.snapshot() == before
    # An RtSolPr behind a Destination Options header with a Home Address option.
    rts = _request(mn, par, now_ms=2000)
    buf = bytearray(rts[:40]) + bytearray(24) + bytearray(rts[40:])
    buf[6] = ipv6.NH_DEST_OPTS
    ipv6.encode_dest_opts_hao(buf, 40, ipv6.NH_ICMPV6, NCOA_OTHER)
    ipv6.finish(buf, 0, len(buf))
    frames, events = _send(router, bytes(buf), 2000)
    assert frames == [] and events == [("dropped", {"reason": "hao"})]
    assert router.snapshot() == before
    # An FBU whose Home Address is link-local, with a key stored for it all the same.
    ll = b"\xfe\x80" + bytes(6) + mn.pcoa[8:]
    router.table.put(ll, b"\x00\x00\x00\x00", 1, key, 600000, 0)
    before = router.snapshot()
    frames, events = _send(router, E.make_fbu(key, 1, ll, mn.ncoa, par.address, 1), 3000)
    assert frames == [] and events == [("dropped", {"reason": "hao"})]
    assert router.snapshot() == before
    # An RtSolPr from a link-local CGA: its key could never be used, so none is made.
    addr, params = cga_gen.cga_generate(mn.cga_key.public.spki(), b"\xfe\x80" + bytes(6), sec=0)
    rts = E.make_rtsolpr(mn, par.link_local, mn.hke[0].public.spki(), wall_s=E.wall(4000), src=addr, params=params)
    frames, events = _send(router, rts, 4000)
    assert frames == [] and _kinds(events) == ["rtsolpr-rejected"] and events[0][1]["reason"] == "source"
    assert router.snapshot() == before


def test_cps_to_the_routers_solicited_node_address_is_answered():
    """RFC 3971 §6.4.1: a CPS may go to the All-Routers, a Solicited-Node or the router's own
    address; the router takes those of its link-local and global addresses."""
    mn, par = _mn(), _par()
    anchor_name = bytes(x509.parse(bytes.fromhex(E.mobile_cfg()["trust_anchors"][0])).subject)
    router = E.make_router()
    for own in (par.link_local, par.address):
        cps = bytearray(_cps(mn, [anchor_name]))
        cps[24:40] = ipv6.solicited_node(own)
        ipv6.finish(cps, 0, len(cps))
        frames, events = _send(router, bytes(cps))
        assert len(frames) == 2 and _kinds(events) == ["cpa-sent"]
    cps = bytearray(_cps(mn, [anchor_name]))
    cps[24:40] = ipv6.solicited_node(b"\x20\x01" + bytes(13) + b"\x77")
    ipv6.finish(cps, 0, len(cps))
    assert _send(router, bytes(cps)) == ([], [])


def test_no_reuse_in_the_last_second():
    """A key is handed out again only with at least a second left: the Key Lifetime field counts
    whole seconds, so a shorter remainder would promise the node a key the router has dropped."""
    mn, par = _mn(), _par()
    router = E.make_router(hk_lifetime=10)
    _, first = _provision(router, mn, par, now_ms=0)
    frames, events = _send(router, _request(mn, par, hke=mn.hke[1], now_ms=9000), 9000)
    assert events[0][1]["reused"] is True and E.hk_reply(_only(frames)).lifetime == 1
    frames, events = _send(router, _request(mn, par, hke=mn.hke[1], now_ms=9500), 9500)
    assert events[0][1]["reused"] is False and E.hk_reply(_only(frames)).lifetime == 10
    assert E.decrypt_reply(_only(frames), mn.hke[1]) != first


def test_rtsolpr_rate_limited_before_any_rsa_work():
    """Flood control: past its per-source budget (and the global one) an RtSolPr is dropped
    before the signature check and before any signed answer: no frame, a rate-limited event."""
    mn, par = _mn(), _par()
    router = E.make_router(source_rate=1, source_burst=2, rtsolpr_rate=100, rtsolpr_burst=100)
    for i in range(2):
        frames, events = _send(router, _request(mn, par, now_ms=i), i)
        assert len(frames) == 1 and "key-provisioned" in _kinds(events)
    frames, events = _send(router, _request(mn, par, now_ms=2), 2)
    assert frames == [] and _kinds(events) == ["rate-limited"]
    frames, events = _send(router, _request(mn, par, now_ms=1002), 1002)  # a token a second
    assert len(frames) == 1
    router = E.make_router(source_rate=100, source_burst=100, rtsolpr_rate=1, rtsolpr_burst=1)
    assert len(_send(router, _request(mn, par, now_ms=0), 0)[0]) == 1
    frames, events = _send(router, _request(_mn2(), par, now_ms=1), 1)
    assert frames == [] and _kinds(events) == ["rate-limited"]
