"""The mobile node engine against RFC 5269 §3.1, §3.3, §3.4 and §3.6 (docs/requirements.md).

The mobile node runs against the PAR engine on an in-memory link (tests/dual/engines.py); the
frames it sends are decoded with the firmware wire codecs, and forged PrRtAdvs are made here by
re-signing the router's with the router's fixture key.
"""

import engines as E
from dualtest import raises
from handoverkey import crypto
from handoverkey.crypto.rsakey import RsaPrivateKey, inverse
from handoverkey.errors import VerifyError
from handoverkey.send import cga, x509
from handoverkey.wire import icmp, ipv6, mh, ndopt


def _ready(router=None, mobile=None, now_ms=0):
    """PAR and MN on a link, the MN attached (CPS/CPA, RtSolPr, PrRtAdv) and holding a key."""
    link = E.pair(router, mobile, now_ms)
    assert E.attach(link)
    return link


def _handover(link, mode="predictive"):
    """FBU to the PAR and the FBack back; True when the MN accepted an FBack."""
    mark = len(link.events)
    link.call("MN", "move", mode)
    link.run()
    return "fback-accepted" in link.kinds("MN", mark)


def _hke_spki(frame):
    return bytes(E.hk_request(frame).spki)


def _last_rtsolpr(link):
    return link.frames("MN", "rtsolpr")[-1]


def _cga_key_of(frame):
    """The public key in the CGA option of a SEND message."""
    return E.public_from_spki(cga.parse_params(E.cga_params(frame)).key)


def _solicit(link):
    """Attach, but keep the PrRtAdv back: returns (RtSolPr, PrRtAdv) for the test to play with."""
    link.call("MN", "attach")
    link.run(hold=("prrtadv",))
    assert len(link.held) == 1
    return _last_rtsolpr(link), link.held.pop()


def _with_reply(prrtadv, at=None, lifetime=None, enc=None, key=None, src=None, replace=None):
    """The PrRtAdv with its HK Reply fields changed, re-signed with the PAR's key (or `key`)."""
    r = E.hk_reply(prrtadv)
    opt = E.hk_reply_option(r.at if at is None else at, r.lifetime if lifetime is None else lifetime,
                            bytes(r.enc_key) if enc is None else enc)

    def swap(t, raw):
        if replace is not None and t in replace:
            return replace[t]
        return opt if t == ndopt.OPT_HK_REPLY else raw

    return E.resign(prrtadv, E.RouterIdentity(E.router_cfg()).key if key is None else key, swap, src)


def test_hke_key_matches_cga_key_size_and_exponent():
    """3.1-1: the HKE key pair has exactly the size and public exponent of the CGA key, for 1024-
    and 2048-bit CGA keys; pool keys of other parameters are passed over."""
    for bits in (1024, 2048):
        link = _ready(mobile=E.make_mobile(bits))
        req = _last_rtsolpr(link)
        cga_key = _cga_key_of(req)
        assert cga_key == E.Identity(E.mobile_cfg(bits)).cga_key.public
        hke = E.public_from_spki(_hke_spki(req))
        assert cga_key.bits == bits
        assert hke.size == cga_key.size and hke.bits == cga_key.bits
        assert hke.e == cga_key.e
        assert hke != cga_key
        # Formatted like the CGA key: strict DER SubjectPublicKeyInfo (4.1-4).
        assert _hke_spki(req) == hke.spki()
    # A pool that starts with a key of the wrong size, one of the wrong exponent and the CGA key
    # itself: the first key with the right parameters is used.
    extra = E.config("extra")
    cfg = E.mobile_cfg()
    good = cfg["hke_keys"][1]
    cfg["hke_keys"] = [E.mobile_cfg(2048)["hke_keys"][0], extra["_keys"]["hke_e3"], cfg["cga_key"], good]
    link = E.pair(mobile=E.build_engine("mobile", cfg))
    assert E.attach(link)
    assert _hke_spki(_last_rtsolpr(link)) == E.private_key(good).public.spki()


def test_hke_key_reused_until_retired():
    """3.1-2: the HKE key pair is kept across requests and handovers while within its limits."""
    link = _ready()
    first = _hke_spki(_last_rtsolpr(link))
    # The refresh before HK-LIFETIME runs out uses it.
    link.at(link.engine("MN").next_deadline())
    link.call("MN", "poll")
    link.run()
    assert link.kinds("MN")[-2:] == ["rtsolpr-sent", "key-stored"]
    assert _hke_spki(_last_rtsolpr(link)) == first
    # So does a new request after a handover.
    assert _handover(link)
    link.advance(5000)
    assert E.attach(link)
    assert _hke_spki(_last_rtsolpr(link)) == first
    assert "hke-retired" not in link.kinds("MN")


def test_hke_key_retired_after_handovers():
    """3.1-4: with HKEPK-HANDOVERS = 2, the key pair is replaced after the second handover."""
    link = _ready(mobile=E.make_mobile(hkepk_handovers=2))
    pool = E.Identity(E.mobile_cfg()).hke
    first = _hke_spki(_last_rtsolpr(link))
    assert first == pool[0].public.spki()
    assert _handover(link)
    link.advance(1000)
    assert E.attach(link)
    assert _hke_spki(_last_rtsolpr(link)) == first  # one handover: kept
    assert _handover(link)
    link.advance(1000)
    mark = len(link.events)
    assert E.attach(link)
    second = _hke_spki(_last_rtsolpr(link))
    assert second != first and second == pool[1].public.spki()
    assert link.kinds("MN", mark)[:3] == ["key-discarded", "hke-retired", "rtsolpr-sent"]
    link.advance(1000)
    assert E.attach(link)
    assert _hke_spki(_last_rtsolpr(link)) == second


def test_hke_key_retired_after_lifetime():
    """3.1-4: with HKEPK-LIFETIME = 100 s, a request at 99.999 s still uses the key pair, one at
    100 s uses a new one."""
    link = _ready(mobile=E.make_mobile(hkepk_lifetime=100))
    first = _hke_spki(_last_rtsolpr(link))
    link.at(99999)
    assert E.attach(link)
    assert _hke_spki(_last_rtsolpr(link)) == first
    link.at(100000)
    mark = len(link.events)
    assert E.attach(link)
    assert "hke-retired" in link.kinds("MN", mark)
    assert _hke_spki(_last_rtsolpr(link)) != first


def test_hke_key_differs_from_cga_key_and_never_signs():
    """3.1-3: through a whole exchange and handover the HKE private key only decrypts the handover
    key; every signature the mobile node makes is by its CGA key."""
    ident = E.Identity(E.mobile_cfg())
    spy = E.Spy("rsa_sign", "rsa_verify", "rsa_encrypt", "rsa_decrypt_implicit")
    try:
        link = E.pair()
        # An unanswered RtSolPr and its retransmission, then the answered one.
        _solicit(link)
        mn = link.engine("MN")
        link.at(mn.next_deadline())
        link.call("MN", "poll")
        link.run()
        assert "rtsolpr-sent" in link.kinds("MN")[-3:] and link.kinds("MN")[-1] == "key-stored"
        # A refresh before HK-LIFETIME runs out, and a handover.
        link.at(mn.next_deadline())
        link.call("MN", "poll")
        link.run()
        assert link.kinds("MN")[-1] == "key-stored"
        assert _handover(link)
    finally:
        spy.restore()
    assert len(link.frames("MN", "rtsolpr")) == 3
    hke_spki = _hke_spki(_last_rtsolpr(link))
    hke = ident.hke_for(hke_spki)
    assert hke is not None and hke.public != ident.cga_key.public
    router_key = E.RouterIdentity(E.router_cfg()).key
    signers = [c[1][0].public for c in spy.of("rsa_sign")]
    assert ident.cga_key.public in signers
    for s in signers:
        assert s == ident.cga_key.public or s == router_key.public
    assert [c[1][0] for c in spy.of("rsa_decrypt_implicit")] == [hke, hke]
    for c in spy.of("rsa_encrypt"):
        assert c[1][0] == hke.public and len(c[1][1]) == E.KEY_LEN[1]
    for c in spy.of("rsa_verify"):
        assert c[1][0] != hke.public
    # On the wire: every RtSolPr is signed by the CGA key, whose key hash is not the HKE key's.
    for req in link.frames("MN", "rtsolpr"):
        assert bytes(E.rsa_sig(req).key_hash) == ident.cga_key.public.key_hash() != hke.public.key_hash()
        assert E.signer(req) == ident.cga_key.public


def test_rtsolpr_layout():
    """3.1-5, 3.1-6, 3.1-7, 3.1-9, 3.1-10: RtSolPr from the care-of CGA to the router, with the
    Handover Key Request (preferred AT, HKE public key), CGA, Timestamp, Nonce, and the RSA
    Signature last, made with the CGA key over the whole message."""
    ident = E.Identity(E.mobile_cfg())
    par = E.RouterIdentity(E.router_cfg())
    for at in (1, 0):
        link = _ready(mobile=E.make_mobile(preferred_at=at))
        f = _last_rtsolpr(link)
        pkt, msg = E.icmp_of(f)
        assert bytes(pkt.src) == ident.pcoa
        assert bytes(pkt.dst) == par.link_local
        assert pkt.hop_limit == 255
        assert msg.type == icmp.ICMP_FMIPV6 and msg.subtype == icmp.SUB_RTSOLPR and msg.code == 0
        types = E.option_types(f)
        for t in (ndopt.OPT_CGA, ndopt.OPT_TIMESTAMP, ndopt.OPT_NONCE, ndopt.OPT_HK_REQUEST):
            assert types.count(t) == 1, t
        assert types[-1] == ndopt.OPT_RSA_SIG and types.count(ndopt.OPT_RSA_SIG) == 1
        # The source is a CGA of the node's key, as the CGA option proves.
        params = E.cga_params(f)
        assert params == ident.params
        cga.cga_verify(ident.pcoa, params)
        req = E.hk_request(f)
        assert req.at == at
        assert bytes(req.spki) == ident.hke[0].public.spki()
        o = msg.find(ndopt.OPT_HK_REQUEST)
        assert f[o[1] + 3] & 0x0F == 0  # reserved nibble
        assert bytes(f[o[1] + o[2] - req.pad_len : o[1] + o[2]]) == bytes(req.pad_len)
        assert len(E.get_nonce(f)) >= 6
        assert E.get_timestamp(f) == ndopt.timestamp_from_wall(E.WALL_S)
        assert E.signer(f) == ident.cga_key.public
        # The Handover Key Request is covered by the signature.
        bad = bytearray(f)
        bad[o[1] + o[2] - req.pad_len - 1] ^= 1
        ipv6.finish(bad, 0, len(bad))
        raises(VerifyError, E.signer, bytes(bad))
    # Each request has a fresh nonce.
    link.advance(1000)
    E.attach(link)
    nonces = [E.get_nonce(f) for f in link.frames("MN", "rtsolpr")]
    assert len(nonces) == 2 and nonces[0] != nonces[1]


def test_cps_before_rtsolpr():
    """3.3-3: without the router's certification path the mobile node first sends a CPS, and sends
    its RtSolPr only once a CPA path validated to its trust anchor; a path that does not validate
    yields no RtSolPr; a cached path is not asked for again."""
    cfg = E.mobile_cfg()
    anchor_name = bytes(x509.parse(bytes.fromhex(cfg["trust_anchors"][0])).subject)
    link = E.pair()
    frames, events = link.call("MN", "attach")
    assert len(frames) == 1 and E.kind(frames[0]) == "cps"
    pkt, msg = E.icmp_of(frames[0])
    assert bytes(pkt.dst) == E.ALL_ROUTERS and pkt.hop_limit == 255
    ta = msg.find(ndopt.OPT_TRUST_ANCHOR)
    assert bytes(ndopt.get_trust_anchor(frames[0], ta[1], ta[2]).name) == anchor_name
    link.run()
    assert [E.kind(f) for _, _, f in link.sent] == ["cps", "cpa", "cpa", "rtsolpr", "prrtadv"]
    assert link.kinds("MN")[:3] == ["cps-sent", "path-validated", "rtsolpr-sent"]
    # Attaching again: the path is cached, so straight to the RtSolPr.
    mark = len(link.sent)
    link.advance(1000)
    frames, _ = link.call("MN", "attach")
    assert [E.kind(f) for f in frames] == ["rtsolpr"]
    link.run()
    assert "cps" not in [E.kind(f) for _, _, f in link.sent[mark:]]
    # A router whose path does not lead to a certificate for this link (router_nar.der covers
    # 2001:db8:2::/64 only): path rejected, no RtSolPr, no key.
    nar_path = E.config("router_nar")["cert_path"]
    link = E.pair(router=E.make_router(cert_path=nar_path))
    link.call("MN", "attach")
    link.run()
    assert "path-rejected" in link.kinds("MN")
    assert link.frames("MN", "rtsolpr") == []
    assert link.engine("MN").snapshot()["router_certified"] is False


def test_prrtadv_failing_checks_dropped():
    """3.3-1, 3.3-2, 3.3-4, 3.3-6, 3.3-7: a PrRtAdv that fails SEND validation, is not signed by the
    certified router key, or matches no outstanding nonce is dropped; the genuine one is used."""
    link = E.pair()
    req, good = _solicit(link)
    nar = E.RouterIdentity(E.config("router_nar"))
    mn2 = E.Identity(E.mobile_cfg(second=True))
    bad_sig = bytearray(good)
    bad_sig[len(bad_sig) - 12] ^= 0x10
    ipv6.finish(bad_sig, 0, len(bad_sig))
    stale = E.option(ndopt.OPT_TIMESTAMP, ndopt.put_timestamp, ndopt.timestamp_from_wall(E.WALL_S - 400))
    other_nonce = E.option(ndopt.OPT_NONCE, ndopt.put_nonce, b"\x99" * 6)
    nar_cga = E.option(ndopt.OPT_CGA, ndopt.put_cga, nar.cga_params)
    cases = (
        ("bad signature", bytes(bad_sig), "signature"),
        ("signed by another key", _with_reply(good, key=mn2.cga_key), "key-hash"),
        ("valid SEND, but by a router key not certified to this node",
         _with_reply(good, key=nar.key, src=nar.link_local, replace={ndopt.OPT_CGA: nar_cga}), "uncertified"),
        ("stale timestamp", _with_reply(good, replace={ndopt.OPT_TIMESTAMP: stale}), "timestamp"),
        ("no timestamp", _with_reply(good, replace={ndopt.OPT_TIMESTAMP: b""}), "no-timestamp"),
        ("unknown nonce", _with_reply(good, replace={ndopt.OPT_NONCE: other_nonce}), "unknown-nonce"),
        ("no nonce", _with_reply(good, replace={ndopt.OPT_NONCE: b""}), "no-nonce"),
    )
    mn = link.engine("MN")
    for name, frame, reason in cases:
        frames, events = link.deliver("MN", frame)
        assert frames == [] and [e[0] for e in events] == ["prrtadv-rejected"], (name, events)
        assert events[0][1]["reason"] == reason, (name, events[0][1])
        assert mn.snapshot()["keys"] == [], name
    frames, events = link.deliver("MN", good)
    assert [e[0] for e in events] == ["key-stored"]
    # Once used, the nonce is spent: the same PrRtAdv again is dropped.
    frames, events = link.deliver("MN", good)
    assert [e[0] for e in events] == ["prrtadv-rejected"] and events[0][1]["reason"] == "unknown-nonce"


def test_unsupported_at_ignored():
    """3.3-5: a reply whose AT the node does not support stores nothing; a supported reply to the
    same request that arrives after it is used."""
    # A node that supports only AT 0, against a router that supports only AT 1.
    link = E.pair(router=E.make_router(ats=[1]), mobile=E.make_mobile(preferred_at=0, ats=[0]))
    link.call("MN", "attach")
    link.run()
    assert E.hk_reply(link.frames("PAR", "prrtadv")[0]).at == 1
    rejected = link.fields("MN", "prrtadv-rejected")
    assert len(rejected) == 1 and rejected[0]["reason"] == "unsupported-at" and rejected[0]["at"] == 1
    assert link.engine("MN").snapshot()["keys"] == []
    # Two replies to one request: AT 2 (unassigned) first, then the genuine AT 1 reply.
    link = E.pair()
    req, good = _solicit(link)
    frames, events = link.deliver("MN", _with_reply(good, at=2))
    assert [e[0] for e in events] == ["prrtadv-rejected"] and events[0][1]["reason"] == "unsupported-at"
    assert link.engine("MN").snapshot()["keys"] == []
    frames, events = link.deliver("MN", good)
    assert [e[0] for e in events] == ["key-stored"] and events[0][1]["at"] == 1


def test_no_bid_down():
    """3.3-14 (I§1): a reply with an AT weaker than the request is refused, and a retried request
    keeps the AT of the first."""
    link = E.pair()
    req, good = _solicit(link)
    assert E.hk_request(req).at == 1
    weaker = _with_reply(good, at=0)
    frames, events = link.deliver("MN", weaker)
    assert [e[0] for e in events] == ["prrtadv-rejected"] and events[0][1]["reason"] == "bid-down"
    assert link.engine("MN").snapshot()["keys"] == []
    # No answer taken: the retransmitted RtSolPr asks for AT 1 again.
    link.at(link.engine("MN").next_deadline())
    frames, events = link.call("MN", "poll")
    assert [E.kind(f) for f in frames] == ["rtsolpr"] and E.hk_request(frames[0]).at == 1


def _bad_ciphertexts(hke_pub, key_len):
    k = hke_pub.size

    def ps(n):
        return bytes([b or 1 for b in crypto.random_bytes(n)])

    return (
        ("block type 1", E.rsa_raw_encrypt(hke_pub, b"\x00\x01" + b"\xff" * (k - 3 - key_len) + b"\x00" + bytes(key_len))),
        ("no zero separator", E.rsa_raw_encrypt(hke_pub, b"\x00\x02" + ps(k - 2))),
        ("valid padding, 16-octet plaintext", E.rsa_raw_encrypt(hke_pub, b"\x00\x02" + ps(k - 3 - 16) + b"\x00" + ps(16))),
    )


def _outcome(mn, out):
    frames, events = out
    return ([E.kind(f) for f in frames], events, mn.next_deadline(), mn.state)


def test_bad_padding_behaves_like_good():
    """3.3-8 (I§7): a HK Reply whose ciphertext has invalid padding (forged, re-signed with the
    router key) gives the same frames, events, state and next deadline as a valid one: only the
    stored key differs, the same each time for the same ciphertext; the FBU then fails at the PAR."""
    good_link = E.pair()
    _, good = _solicit(good_link)
    good_mn = good_link.engine("MN")
    expected = _outcome(good_mn, good_link.deliver("MN", good))
    assert [e[0] for e in expected[1]] == ["key-stored"]
    good_key = good_mn.snapshot()["keys"][0][3]
    hke_pub = E.public_from_spki(_hke_spki(_last_rtsolpr(good_link)))
    for name, enc in _bad_ciphertexts(hke_pub, 32):
        keys = []
        for attempt in range(2):
            link = E.pair()
            _, reply = _solicit(link)
            mn = link.engine("MN")
            got = _outcome(mn, link.deliver("MN", _with_reply(reply, enc=enc)))
            assert got == expected, (name, got, expected)
            snap = mn.snapshot()
            want = good_mn.snapshot()
            assert snap["state"] == want["state"] and snap["router_certified"] == want["router_certified"]
            entry = snap["keys"][0]
            assert entry[:3] == want["keys"][0][:3] and entry[4] == want["keys"][0][4]
            assert len(entry[3]) == 32 and entry[3] != good_key, name
            keys.append(entry[3])
            # The FBU is sent just the same and fails at the router's BADF check.
            link.advance(1)
            frames, events = link.call("MN", "move", "predictive")
            assert [E.kind(f) for f in frames] == ["fbu"] and [e[0] for e in events] == ["fbu-sent"]
            link.run()
            assert link.kinds("PAR")[-1] == "fbu-rejected"
            assert link.fields("PAR", "fbu-rejected")[-1]["reason"] == "mac"
        # Implicit rejection: a pseudorandom key derived from the private key and the ciphertext.
        assert keys[0] == keys[1], name
    # The control: the valid ciphertext's key works.
    good_link.advance(1)
    good_link.call("MN", "move", "predictive")
    good_link.run()
    assert "fbu-accepted" in good_link.kinds("PAR")


def test_key_stored_per_router_and_pcoa():
    """3.3-9, 3.3-11, 3.4-2: the key is stored with its AT and lifetime under the PCoA and every
    address of the router, and an FBU to the PAR from that PCoA uses it."""
    ident = E.Identity(E.mobile_cfg())
    par = E.RouterIdentity(E.router_cfg())
    link = _ready(now_ms=2000)
    mn = link.engine("MN")
    router_key = E.table_entry(link.engine("PAR"), ident.pcoa)[3]
    entry = mn.snapshot()["keys"]
    assert entry == [[ident.pcoa, sorted([par.address, par.link_local]), 1, router_key, 2000 + 43200 * 1000]]
    now = 3000
    for r in (par.address, par.link_local):
        assert mn.keys.find(r, ident.pcoa, now).key == router_key
    nar = E.RouterIdentity(E.config("router_nar"))
    assert mn.keys.find(nar.address, ident.pcoa, now) is None
    assert mn.keys.find(nar.link_local, ident.pcoa, now) is None
    assert mn.keys.find(par.address, ident.ncoa, now) is None
    link.at(now)
    frames, _ = link.call("MN", "move", "predictive")
    pkt, m = E.mh_of(frames[0])
    assert bytes(pkt.dst) == par.address and bytes(pkt.home_address) == ident.pcoa
    assert E.badf_ok(frames[0], router_key, 1, ident.ncoa)


def test_at_from_reply_used():
    """3.3-10: the node uses the AT of the reply, not the one it asked for."""
    link = _ready(router=E.make_router(ats=[1]), mobile=E.make_mobile(preferred_at=0))
    assert E.hk_request(_last_rtsolpr(link)).at == 0
    assert E.hk_reply(link.frames("PAR", "prrtadv")[0]).at == 1
    mn = link.engine("MN")
    assert mn.snapshot()["keys"][0][2] == 1
    key = mn.snapshot()["keys"][0][3]
    assert len(key) == E.KEY_LEN[1]
    link.advance(1)
    frames, events = link.call("MN", "move", "predictive")
    assert events[0][1]["at"] == 1
    pkt, m = E.mh_of(frames[0])
    assert m.auth_len == E.AUTH_LEN[1]
    assert E.badf_ok(frames[0], key, 1, E.Identity(E.mobile_cfg()).ncoa)
    link.run()
    assert "fbu-accepted" in link.kinds("PAR")


def test_refresh_before_lifetime():
    """3.3-12: the node asks again before HK-LIFETIME runs out, and keeps holding a valid key
    through the router's expiry of the old one."""
    link = _ready(router=E.make_router(hk_lifetime=1000))
    mn = link.engine("MN")
    first = mn.snapshot()["keys"][0]
    assert first[4] == 1000 * 1000
    deadline = mn.next_deadline()
    assert 0 < deadline < first[4]
    link.at(deadline - 1)
    assert link.call("MN", "poll") == ([], [])
    link.at(deadline)
    frames, events = link.call("MN", "poll")
    assert [e[0] for e in events][:2] == ["key-refresh", "rtsolpr-sent"]
    assert [E.kind(f) for f in frames] == ["rtsolpr"] and E.hk_request(frames[0]) is not None
    link.run()
    # Follow the refreshes: each goes out while the key held is still valid, until the router's
    # key has expired and a new one is stored.
    refreshes = 1
    while mn.snapshot()["keys"][0][3] == first[3]:
        held = mn.snapshot()["keys"][0]
        assert "key-stored" == link.kinds("MN")[-1]
        d = mn.next_deadline()
        assert link.now_ms < d < held[4]
        link.at(d)
        link.call("MN", "poll")
        link.run()
        refreshes += 1
        assert refreshes < 10
    new = mn.snapshot()["keys"][0]
    assert new[3] != first[3] and new[4] > link.now_ms
    assert E.table_entry(link.engine("PAR"), E.Identity(E.mobile_cfg()).pcoa)[3] == new[3]


def test_fbu_layout():
    """3.4-1, 3.4-3: the FBU carries the PCoA in a Home Address option and ends with a BADF (SPI 0,
    Option Length 4 + authenticator, 8-octet aligned end) whose MAC, recomputed here from the
    router's key, covers NCoA | PAR | MH; predictive (Alternate CoA) and reactive (source NCoA)."""
    ident = E.Identity(E.mobile_cfg())
    par = E.RouterIdentity(E.router_cfg())
    for at, mode in ((1, "predictive"), (0, "reactive")):
        link = _ready(mobile=E.make_mobile(preferred_at=at))
        key = E.table_entry(link.engine("PAR"), ident.pcoa)[3]
        link.advance(1)
        frames, events = link.call("MN", "move", mode)
        assert len(frames) == 1
        f = frames[0]
        pkt, m = E.mh_of(f)
        assert bytes(pkt.dst) == par.address
        assert bytes(pkt.src) == (ident.pcoa if mode == "predictive" else ident.ncoa)
        assert bytes(pkt.home_address) == ident.pcoa
        assert m.mh_type == mh.MH_FBU and m.seq == 1
        assert m.flags & mh.FBU_A and m.flags & mh.FBU_H
        if mode == "predictive":
            assert bytes(m.alt_coa) == ident.ncoa
        else:
            assert m.alt_coa is None
        alen = E.AUTH_LEN[at]
        assert m.badf_spi == 0 and m.badf_len_field == 4 + alen and m.auth_len == alen
        assert m.badf_off + 6 + alen == m.end == len(f)  # BADF is last
        assert (m.end - m.off) % 8 == 0
        assert (m.badf_off - m.off) % 8 == (2 if at == 1 else 6)
        assert E.badf_ok(f, key, at, ident.ncoa, par.address)
        assert not E.badf_ok(f, key, at, ident.pcoa, par.address)
        link.run()
        assert "fbu-accepted" in link.kinds("PAR")
        assert "fback-accepted" in link.kinds("MN")


def test_expired_key_not_used():
    """3.6-6: a key past its lifetime is not used: no FBU goes out until a new key is received."""
    link = _ready(router=E.make_router(hk_lifetime=60))
    mn = link.engine("MN")
    old = mn.snapshot()["keys"][0]
    assert old[4] == 60000
    link.at(59999)
    frames, events = link.call("MN", "move", "predictive")
    assert [E.kind(f) for f in frames] == ["fbu"]
    link.run()
    assert link.kinds("PAR")[-1] == "fbu-accepted"
    link.at(60000)
    frames, events = link.call("MN", "move", "predictive")
    assert frames == [] and [e[0] for e in events] == ["fbu-no-key"]
    assert mn.snapshot()["keys"] == []
    # Asking again brings a new key (the router's old one expired too), and FBUs resume.
    link.advance(1000)
    assert E.attach(link)
    assert mn.snapshot()["keys"][0][3] != old[3]
    frames, events = link.call("MN", "move", "predictive")
    assert [E.kind(f) for f in frames] == ["fbu"]
    link.run()
    assert link.kinds("PAR")[-1] == "fbu-accepted"


def test_key_discarded_after_binding():
    """3.6-7: once the binding update on the new AR is complete the PAR key is dropped."""
    ident = E.Identity(E.mobile_cfg())
    link = _ready()
    assert _handover(link)
    mn = link.engine("MN")
    assert len(mn.snapshot()["keys"]) == 1
    frames, events = link.call("MN", "binding_complete")
    assert frames == [] and [e[0] for e in events] == ["key-discarded"]
    assert events[0][1]["pcoa"] == ident.pcoa
    assert mn.snapshot()["keys"] == []
    frames, events = link.call("MN", "move", "predictive")
    assert frames == [] and [e[0] for e in events] == ["fbu-no-key"]


# A 1020-bit RSA key (e = 65537): the primes, made once on the host with crypto.generate_rsa(1020).
# Its modulus has 128 octets, as a 1024-bit one does.
_P1020 = int(
    "3d0c614ba42d14905714f2a949b8567e1e8cf9510c9e1915effb2525565e4d5a"
    "9b47110ad3a6c36d69c5dfe785934cb06ac7d7ff67b9a59f602e5522a12270d1", 16)
_Q1020 = int(
    "376802f8afd511d2f33fbfb71fc9d07509b1446172acd46fd20984bea3a21b45"
    "d63068eabe6c102f3572eb152f9893b00bafe21482a2b7eb6664541d536dbd8b", 16)


def test_hke_pool_key_of_another_bit_length_passed_over():
    """3.1-1, 4.1-4: "exactly the same parameters" is the bit length: a pool key of 1020 bits,
    the same 128 octets as the 1024-bit CGA key, is passed over for the next one that fits."""
    e = 65537
    k1020 = RsaPrivateKey(_P1020 * _Q1020, e, inverse(e, (_P1020 - 1) * (_Q1020 - 1)), _P1020, _Q1020)
    cfg = E.mobile_cfg()
    cga_pub = E.private_key(cfg["cga_key"]).public
    assert k1020.public.bits == 1020 and k1020.public.size == cga_pub.size == 128
    assert cga_pub.bits == 1024 and cga_pub.e == e
    good = cfg["hke_keys"][0]
    cfg["hke_keys"] = [k1020.pkcs8().hex(), good]
    link = E.pair(mobile=E.build_engine("mobile", cfg))
    assert E.attach(link)
    hke = E.public_from_spki(_hke_spki(_last_rtsolpr(link)))
    assert hke.bits == 1024 and hke == E.private_key(good).public


def _fback(key, at, seq, status, src, dst, ncoa):
    """An FBack as the PAR sends it (no Alternate CoA), with a BADF made from `key`."""
    buf = bytearray(256)
    off = ipv6.encode_header(buf, 0, 0, mh.IPPROTO_MH, 64, src, dst)
    mh_off = off
    alen = E.AUTH_LEN[at]
    end, auth_off = mh.encode_fback(buf, off, status, 0, seq, 0, alen)
    buf[auth_off : auth_off + alen] = E.badf_mac(at, key, buf, mh_off, auth_off, ncoa, src)
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def _fail_fbu(link):
    """Start a predictive handover whose FBUs are all lost: poll until the node gives up."""
    mn = link.engine("MN")
    mark = len(link.events)
    link.call("MN", "move", "predictive")
    link.run(hold=("fbu",))
    polls = 0
    while "fbu-failed" not in link.kinds("MN", mark):
        link.at(mn.next_deadline())
        link.call("MN", "poll")
        link.run(hold=("fbu",))
        polls += 1
        assert polls <= 4
    link.held = []
    return link.kinds("MN", mark)


def test_refresh_kept_after_failed_or_refused_handover():
    """3.3-12 (I§6): an FBU exchange that ends without a handover, given up after FBU_RETRIES
    (RFC 5568 §4) or refused by the PAR, leaves the key's refresh armed: the node, still on the
    PAR's link, asks again before HK-LIFETIME runs out and can hand over with the new key."""
    ident = E.Identity(E.mobile_cfg())
    par = E.RouterIdentity(E.router_cfg())
    link = _ready(router=E.make_router(hk_lifetime=1000))
    mn = link.engine("MN")
    refresh = mn.next_deadline()
    key = mn.snapshot()["keys"][0]
    assert 0 < refresh < key[4]
    # Given up: three retransmissions, then fbu-failed; the refresh is the next deadline.
    link.advance(1)
    assert _fail_fbu(link) == ["fbu-sent"] * 4 + ["fbu-failed"]
    assert mn.state == "ready" and mn.next_deadline() == refresh
    # Refused: the PAR answers with status 128 (made here with the PAR's key; the PAR engine
    # does not see the FBU, so it sets up no forwarding).
    link.advance(1)
    frames, _ = link.call("MN", "move", "predictive")
    link.run(hold=("fbu",))
    link.held = []
    seq = E.mh_of(frames[0])[1].seq
    refused = _fback(key[3], key[2], seq, mh.FBACK_UNSPECIFIED, par.address, ident.pcoa, ident.ncoa)
    frames, events = link.deliver("MN", refused)
    assert [e[0] for e in events] == ["fback-refused"] and events[0][1]["status"] == 128
    assert mn.state == "ready" and mn.next_deadline() == refresh
    # The refresh goes out on time, the key is renewed, and the next handover works.
    link.at(refresh)
    mark = len(link.events)
    link.call("MN", "poll")
    link.run()
    assert link.kinds("MN", mark)[:3] == ["key-refresh", "rtsolpr-sent", "key-stored"]
    # The router gave the same key back (it MUST while it is live): the node asks once more
    # just before it runs out, and from then on holds the router's next key.
    n = 0
    while link.now_ms <= key[4]:
        link.at(mn.next_deadline())
        link.call("MN", "poll")
        link.run()
        n += 1
        assert n < 5
    assert mn.snapshot()["keys"][0][3] != key[3]
    assert _handover(link)


def test_unanswered_refresh_is_tried_again_while_the_key_lives():
    """3.3-12: the node MUST ask for a new key before HK-LIFETIME runs out. A refresh that goes
    unanswered (rtsolpr-failed) only puts the request off while the key it holds is live: to
    halfway to the key's last moment, then at that moment; the key stays usable meanwhile."""
    link = _ready(router=E.make_router(hk_lifetime=1000))
    mn = link.engine("MN")
    key = mn.snapshot()["keys"][0]
    last = key[4] - 500
    link.at(mn.next_deadline())
    mark = len(link.events)
    link.call("MN", "poll")
    tries = []
    while "rtsolpr-failed" not in link.kinds("MN", mark):
        link.run(hold=("rtsolpr",))
        tries.append(link.now_ms)
        link.at(mn.next_deadline())
        link.call("MN", "poll")
        assert len(tries) < 8
    assert link.kinds("MN", mark) == ["key-refresh"] + ["rtsolpr-sent"] * 4 + ["rtsolpr-failed"]
    assert mn.state == "ready" and mn.snapshot()["keys"][0] == key
    again = mn.next_deadline()
    assert again == link.now_ms + (last - link.now_ms) // 2
    # Each unanswered round halves the wait until under a minute is left, then the last moment.
    waits = []
    while mn.next_deadline() is not None and len(waits) < 20:
        link.at(mn.next_deadline())
        mark = len(link.events)
        link.call("MN", "poll")
        if "key-refresh" in link.kinds("MN", mark):
            waits.append(link.now_ms)
        link.run(hold=("rtsolpr",))
    assert waits == [again, last]
    # The last try went unanswered too and the key has run out: nothing is armed any more.
    assert link.now_ms > key[4] and mn.state == "idle" and mn.next_deadline() is None
    # An answer to a later try stores the key as usual.
    link2 = _ready(router=E.make_router(hk_lifetime=1000))
    mn2 = link2.engine("MN")
    link2.at(mn2.next_deadline())
    link2.call("MN", "poll")
    for _ in range(4):
        link2.run(hold=("rtsolpr",))
        link2.at(mn2.next_deadline())
        link2.call("MN", "poll")
    assert mn2.state == "ready"
    link2.at(mn2.next_deadline())
    mark = len(link2.events)
    link2.call("MN", "poll")
    link2.run()
    assert link2.kinds("MN", mark)[:3] == ["key-refresh", "rtsolpr-sent", "key-stored"]


def test_refresh_reply_during_fbu_exchange():
    """3.3-12, 3.4: the PrRtAdv answering a refresh RtSolPr arrives while an FBU is outstanding:
    the key is stored, and the FBU exchange keeps its state, its retransmission timer and its
    FBack; the refresh is armed again for the new key."""
    link = _ready()
    mn = link.engine("MN")
    link.at(mn.next_deadline())
    link.call("MN", "poll")
    link.run(hold=("prrtadv",))
    assert link.kinds("MN")[-2:] == ["key-refresh", "rtsolpr-sent"] and len(link.held) == 1
    reply = link.held.pop()
    frames, _ = link.call("MN", "move", "predictive")
    assert [E.kind(f) for f in frames] == ["fbu"] and mn.state == "fbu-sent"
    retransmit = mn.next_deadline()
    assert retransmit == link.now_ms + 1000
    frames, events = link.deliver("MN", reply)
    assert [e[0] for e in events] == ["key-stored"]
    assert mn.state == "fbu-sent" and mn.next_deadline() == retransmit
    mark = len(link.events)
    link.run()
    assert "fbu-accepted" in link.kinds("PAR", mark)
    assert link.kinds("MN", mark) == ["fback-accepted"] and mn.state == "moved"
    key = mn.snapshot()["keys"][0]
    assert link.now_ms < mn.next_deadline() < key[4]
    # A refresh timer that fires while an FBU is outstanding sends its RtSolPr beside it.
    link = _ready(router=E.make_router(hk_lifetime=1000))
    mn = link.engine("MN")
    refresh = mn.next_deadline()
    link.at(refresh - 500)
    link.call("MN", "move", "predictive")
    link.run(hold=("fbu",))
    fbu_at = refresh + 500
    assert mn.next_deadline() == refresh  # the earlier of the two timers
    link.at(refresh)
    frames, events = link.call("MN", "poll")
    assert [E.kind(f) for f in frames] == ["rtsolpr"] and mn.state == "fbu-sent"
    assert mn.next_deadline() == fbu_at
    link.run(hold=("fbu",))
    assert link.kinds("MN")[-1] == "key-stored" and mn.state == "fbu-sent"
    link.at(fbu_at)
    frames, events = link.call("MN", "poll")
    assert [E.kind(f) for f in frames] == ["fbu"]
    link.run()
    assert link.kinds("MN")[-1] == "fback-accepted"


def test_key_replaced_during_fbu_exchange():
    """3.4-2, 3.6-6: a refresh that brings a different key while an FBU is outstanding. The
    FBack answering the FBU is checked with the key that FBU was MAC'ed with; a retransmission
    (a new Sequence Number, RFC 6275 §11.8) is MAC'ed with the key held when it is sent."""
    ident = E.Identity(E.mobile_cfg())
    par = E.RouterIdentity(E.router_cfg())
    link = _ready()
    mn = link.engine("MN")
    k1 = mn.snapshot()["keys"][0][3]
    link.at(mn.next_deadline())
    link.call("MN", "poll")
    link.run(hold=("prrtadv",))
    hke_pub = E.public_from_spki(_hke_spki(_last_rtsolpr(link)))
    k2 = bytes(range(32))
    new_key = _with_reply(link.held.pop(), enc=crypto.rsa_encrypt(hke_pub, k2))
    frames, _ = link.call("MN", "move", "predictive")
    assert E.badf_ok(frames[0], k1, 1, ident.ncoa, par.address)
    fbacks = _held(link, "fback")
    assert fbacks and E.badf_ok(fbacks[0], k1, 1, ident.ncoa)
    assert [e[0] for e in link.deliver("MN", new_key)[1]] == ["key-stored"]
    assert mn.snapshot()["keys"][0][3] == k2
    assert [e[0] for e in link.deliver("MN", fbacks[0])[1]] == ["fback-accepted"]
    # Lost this time: the retransmission after the new key uses the new key.
    link.advance(1)
    frames, _ = link.call("MN", "move", "predictive")
    assert E.badf_ok(frames[0], k2, 1, ident.ncoa, par.address)


def _path_not_after():
    """The earliest notAfter on the PAR's certification path (Unix seconds)."""
    return min([x509.parse(c).not_after for c in E.RouterIdentity(E.router_cfg()).cert_path])


def test_router_certification_ends_with_its_path():
    """3.3-2, 3.3-4 (I§9): the router key is certified only while every certificate of its path
    is valid by the wall clock given. At notAfter a PrRtAdv is still taken; a second later it is
    dropped as "expired", the key is forgotten and nothing else changes; the next attach
    solicits the path again, which is now refused."""
    not_after = _path_not_after()
    link = _ready()
    mn = link.engine("MN")
    link.at((not_after - E.WALL_S) * 1000)
    assert link.wall_s == not_after
    assert E.attach(link)
    assert len(link.frames("MN", "cps")) == 1  # the path still holds: no new CPS
    # The answer to this request arrives a second after notAfter.
    _, reply = _solicit(link)
    link.advance(1000)
    fresh_ts = E.option(ndopt.OPT_TIMESTAMP, ndopt.put_timestamp, ndopt.timestamp_from_wall(link.wall_s))
    reply = _with_reply(reply, replace={ndopt.OPT_TIMESTAMP: fresh_ts})
    before = mn.snapshot()
    deadline = mn.next_deadline()
    frames, events = link.deliver("MN", reply)
    assert frames == [] and [e[0] for e in events] == ["prrtadv-rejected"]
    assert events[0][1]["reason"] == "expired"
    after = mn.snapshot()
    assert after["router_certified"] is False and before["router_certified"] is True
    assert after["keys"] == before["keys"] and after["state"] == before["state"] == "soliciting"
    assert mn.next_deadline() == deadline
    # Attaching again asks for the path first, and the expired path is refused: no RtSolPr.
    mark = len(link.sent)
    frames, events = link.call("MN", "attach")
    assert [E.kind(f) for f in frames] == ["cps"]
    link.run()
    assert link.fields("MN", "path-rejected")[-1]["reason"] == "expired"
    assert link.frames("MN", "rtsolpr", mark) == []
    # Without a PrRtAdv in between: an attach after notAfter goes straight to the CPS.
    link = _ready()
    link.at((not_after + 1 - E.WALL_S) * 1000)
    frames, events = link.call("MN", "attach")
    assert [E.kind(f) for f in frames] == ["cps"]
    assert link.engine("MN").snapshot()["router_certified"] is False


def _cpa_as(cpa, dst=None, ident=None, src=None):
    """A CPA readdressed: new IPv6 destination, Identifier and/or source, checksum made again
    (a CPA carries no signature: its certificates speak for themselves)."""
    pkt, msg = E.icmp_of(cpa)
    b = bytearray(cpa)
    if dst is not None:
        b[pkt.ip_off + 24 : pkt.ip_off + 40] = dst
    if src is not None:
        b[pkt.ip_off + 8 : pkt.ip_off + 24] = src
    if ident is not None:
        b[pkt.payload_off + 4] = ident >> 8
        b[pkt.payload_off + 5] = ident & 0xFF
    ipv6.finish(b, 0, len(b))
    return bytes(b)


def _held_cpas(link):
    link.call("MN", "attach")
    link.run(hold=("cpa",))
    cpas = list(link.held)
    link.held = []
    assert len(cpas) == 2 and E.icmp_of(cpas[0])[1].component == 1
    return cpas


def _held(link, kind):
    """Deliver what is queued except frames of `kind`, which are returned (and not delivered)."""
    link.run(hold=(kind,))
    held = list(link.held)
    link.held = []
    return held


def _reasons(out):
    return [(e[0], e[1].get("reason")) for e in out[1]]


def test_cpa_to_all_nodes_with_identifier_0():
    """3.3-3, RFC 3971 §6.4.2, §6.4.5, §6.4.6: a router under load answers a CPS at All-Nodes
    with Identifier 0; the node takes that path like its own answer. A CPA breaking the
    Identifier rule (0 unless to All-Nodes, 0 to All-Nodes) is discarded; components of two
    advertisements are never mixed, and none blocks another."""
    link = E.pair()
    own = _held_cpas(link)
    mine = E.icmp_of(own[0])[1].identifier
    assert mine != 0 and bytes(E.icmp_of(own[0])[0].dst) != E.ALL_NODES
    # Identifier 0 to the node's solicited-node address, or its own Identifier to All-Nodes.
    for bad in (_cpa_as(own[0], ident=0), _cpa_as(own[0], dst=E.ALL_NODES)):
        assert _reasons(link.deliver("MN", bad)) == [("dropped", "cpa-identifier")]
    assert link.engine("MN").snapshot()["router_certified"] is False
    # The same path at All-Nodes, Identifier 0: validated, and the key follows.
    out = link.deliver("MN", _cpa_as(own[0], dst=E.ALL_NODES, ident=0))
    assert out == ([], [])
    frames, events = link.deliver("MN", _cpa_as(own[1], dst=E.ALL_NODES, ident=0))
    assert [e[0] for e in events] == ["path-validated", "rtsolpr-sent"]
    assert [E.kind(f) for f in frames] == ["rtsolpr"]
    link.run()
    assert link.kinds("MN")[-1] == "key-stored"
    # Collections: each advertisement (Identifier and source) is collected apart, so halves of
    # two never make a path, and a partial one sent first (anyone on the link can read the
    # node's Identifier in its CPS) does not shut out the router's answer (RFC 3971 §6.4.6).
    link = E.pair()
    own = _held_cpas(link)
    other_src = E.RouterIdentity(E.config("router_nar")).link_local
    assert link.deliver("MN", _cpa_as(own[0], dst=E.ALL_NODES, ident=0)) == ([], [])
    assert link.deliver("MN", _cpa_as(own[1], src=other_src)) == ([], [])
    assert link.engine("MN").snapshot()["router_certified"] is False
    assert link.deliver("MN", own[0]) == ([], [])
    frames, events = link.deliver("MN", own[1])
    assert [e[0] for e in events] == ["path-validated", "rtsolpr-sent"]
    assert events[0][1]["router"] == E.RouterIdentity(E.router_cfg()).link_local
    # Once the path is validated no CPA is taken, All-Nodes or not.
    assert _reasons(link.deliver("MN", _cpa_as(own[0], dst=E.ALL_NODES, ident=0))) == [("dropped", "cpa-unsolicited")]


def test_a_cpa_that_fails_a_check_changes_no_collection():
    """A CPA dropped for any reason changes no collection: neither the one it would join nor the
    others (collections are bounded, and a new one pushes out the oldest). Here failing CPAs
    from two other sources come between the router's two components, and its path still
    completes."""
    link = E.pair()
    own = _held_cpas(link)
    pkt, msg = E.icmp_of(own[0])
    assert link.deliver("MN", own[0]) == ([], [])
    others = (E.RouterIdentity(E.config("router_nar")).link_local, E.Identity(E.mobile_cfg()).pcoa)
    for other in others:
        bad = bytearray(_cpa_as(own[0], src=other))
        bad[msg.find_all(ndopt.OPT_CERTIFICATE)[0][1]] = 99  # no Certificate option left in it
        ipv6.finish(bad, 0, len(bad))
        assert _reasons(link.deliver("MN", bytes(bad))) == [("dropped", "cpa-certificates")]
    bad = bytearray(_cpa_as(own[0], src=others[0]))
    bad[pkt.payload_off + 6] = 0  # All Components 0
    bad[pkt.payload_off + 7] = 0
    ipv6.finish(bad, 0, len(bad))
    assert _reasons(link.deliver("MN", bytes(bad))) == [("dropped", "cpa-components")]
    assert [e[0] for e in link.deliver("MN", own[1])[1]] == ["path-validated", "rtsolpr-sent"]


def test_unanswered_fbu_sent_again_from_the_nar_link_on_arrival():
    """RFC 5568 §3.1 (2), §6.2.1: an FBU the node has no FBack for when it reaches the NAR's
    link is sent again at once, now as from that link (§6.2.2: source NCoA, no Alternate CoA)."""
    ident = E.Identity(E.mobile_cfg())
    link = _ready()
    link.call("MN", "move", "predictive")
    link.run(hold=("fbu",))  # lost on the PAR's link
    link.held = []
    link.advance(100)
    frames, events = link.call("MN", "arrived")
    assert [e[0] for e in events] == ["fbu-sent"] and events[0][1]["mode"] == "reactive"
    pkt, m = E.mh_of(frames[0])
    assert bytes(pkt.src) == ident.ncoa and m.alt_coa is None and bytes(pkt.home_address) == ident.pcoa
    mark = len(link.events)
    link.run()
    assert "fback-accepted" in link.kinds("MN", mark) and link.engine("MN").state == "moved"
    # Arriving after the FBack came sends nothing.
    assert link.call("MN", "arrived") == ([], [])


def test_back_on_the_par_link_the_old_key_is_not_used_until_received_again():
    """RFC 5269 §3.6: the node MUST NOT assume it can go on using the old key without receiving
    it again from the PAR: a new attachment drops it, so no FBU is MAC'ed with it before the
    PrRtAdv brings it back (here the same key, since the PAR still holds it)."""
    link = _ready()
    mn = link.engine("MN")
    key = mn.snapshot()["keys"][0][3]
    link.advance(1000)
    frames, events = link.call("MN", "attach")
    assert [e[0] for e in events][:1] == ["key-discarded"] and mn.snapshot()["keys"] == []
    assert [e[0] for e in mn.move(link.now_ms, link.wall_s)[1]] == ["fbu-no-key"]
    link.run()
    assert mn.state == "ready" and mn.snapshot()["keys"][0][3] == key
    assert _handover(link)


def test_binding_complete_ends_the_fbu_exchange():
    """RFC 5269 §3.6: once the binding update at the new AR is done the key is discarded, and
    with it the FBU exchange: a late FBack is not checked with the discarded key."""
    link = _ready()
    mn = link.engine("MN")
    link.call("MN", "move", "predictive")
    late = _held(link, "fback")
    assert late and mn.state == "fbu-sent"
    frames, events = link.call("MN", "binding_complete")
    assert [e[0] for e in events] == ["key-discarded"]
    # Nothing more is sent: no FBU retransmission, and no key is asked of the PAR for it.
    assert mn.state == "idle" and mn.next_deadline() is None
    out = link.deliver("MN", late[0])
    assert [(e[0], e[1].get("reason")) for e in out[1]] == [("fback-rejected", "sequence")]
    assert mn.state != "moved"


def test_fback_for_any_transmission_of_the_fbu_is_taken():
    """An FBack may answer an earlier transmission of the FBU than the last (the PAR answered the
    first FBU on both links, and the node sent it again on arrival): it is checked with that
    transmission's key and taken; the answers to the others are then copies, not news."""
    link = _ready()
    mn = link.engine("MN")
    link.call("MN", "move", "predictive")
    first = _held(link, "fback")
    link.advance(100)
    frames, events = link.call("MN", "arrived")
    assert [e[0] for e in events] == ["fbu-sent"]
    second = _held(link, "fback")
    assert first and second and E.mh_of(first[0])[1].seq != E.mh_of(second[0])[1].seq
    assert [e[0] for e in link.deliver("MN", first[-1])[1]] == ["fback-accepted"] and mn.state == "moved"
    for f in first[:-1] + second:
        assert link.deliver("MN", f) == ([], [])


def test_binding_complete_also_ends_a_key_request_under_way():
    """A refresh still unanswered when the binding update completes asks nothing more of the
    PAR: no RtSolPr retransmission, and a late PrRtAdv to it stores no key."""
    link = _ready()
    mn = link.engine("MN")
    link.call("MN", "refresh")
    late = _held(link, "rtsolpr")
    link.call("MN", "move", "reactive")
    link.run()
    assert mn.state == "moved"
    link.call("MN", "binding_complete")
    assert mn.next_deadline() is None and not mn.has_key(link.now_ms)
    link.advance(30000)
    assert link.call("MN", "poll") == ([], [])
    mark = len(link.events)
    link.deliver("PAR", late[0])
    link.run()
    assert "key-stored" not in link.kinds("MN", mark) and not mn.has_key(link.now_ms)
