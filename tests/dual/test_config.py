"""Engine configuration (handoverkey.config): RFC 5269 §3.2 trust anchors, §3.7 constants, and
refusal of configs that are missing something or hold a value of the wrong form (ConfigError)."""

import engines as E
from dualtest import raises, read_fixture
from handoverkey import mobile, router
from handoverkey.config import ConfigError, build_engine
from handoverkey.errors import EncodeError


def _router(**over):
    return build_engine("router", E.router_cfg(**over))


def _mobile(**over):
    return build_engine("mobile", E.mobile_cfg(**over))


def _without(cfg, name):
    del cfg[name]
    return cfg


def test_mobile_requires_trust_anchor():
    """3.2-16: a mobile node is configured with at least one SEND trust anchor (a certificate)."""
    raises(ConfigError, build_engine, "mobile", _without(E.mobile_cfg(), "trust_anchors"))
    raises(ConfigError, _mobile, trust_anchors=[])
    raises(ConfigError, _mobile, trust_anchors="")
    raises(ConfigError, _mobile, trust_anchors=["30030201"])  # not a certificate
    raises(ConfigError, _mobile, trust_anchors=["zz"])
    mn = _mobile()
    assert len(mn.anchors) == 1
    two = [E.mobile_cfg()["trust_anchors"][0], read_fixture("pki/anchor_other.der").hex()]
    assert len(_mobile(trust_anchors=two).anchors) == 2
    # The engine itself refuses to run without one, whatever builds it.
    raises(EncodeError, mobile.MobileNode, mn.cga_key, mn.pcoa, mn.pcoa_params, mn.ncoa, mn.link_local, [],
           mn.router_address)


def test_defaults():
    """§3.7: HK-LIFETIME 43200 s, HKEPK-LIFETIME 12 h, HKEPK-HANDOVERS 10 when the config says
    nothing; I§1: the router supports AT 0 and 1, the mobile node prefers AT 1."""
    assert router.HK_LIFETIME_S == 43200
    assert mobile.HKEPK_LIFETIME_S == 12 * 3600 and mobile.HKEPK_HANDOVERS == 10
    rcfg = E.router_cfg()
    for k in ("hk_lifetime", "ats", "table_capacity"):
        rcfg.pop(k, None)
    r = build_engine("router", rcfg)
    assert r.hk_lifetime_s == 43200 and r.ats == (0, 1)
    mcfg = E.mobile_cfg()
    for k in ("hkepk_lifetime", "hkepk_handovers", "preferred_at", "ats"):
        mcfg.pop(k, None)
    m = build_engine("mobile", mcfg)
    assert m.hkepk_lifetime_ms == 43200 * 1000 and m.hkepk_handovers == 10
    assert m.preferred_at == 1 and m.ats == (0, 1)
    # On the wire: the default router's Key Lifetime, and the default mobile node's request AT.
    link = E.pair(r, m)
    assert E.attach(link)
    assert E.hk_request(link.frames("MN", "rtsolpr")[0]).at == 1
    assert E.hk_reply(link.frames("PAR", "prrtadv")[0]).lifetime == 43200
    # In behaviour: the HKE key pair lasts 10 handovers, not 11.
    first = bytes(E.hk_request(link.frames("MN", "rtsolpr")[-1]).spki)
    for i in range(10):
        link.advance(10)
        link.call("MN", "move", "predictive")
        link.run()
        assert link.kinds("MN")[-1] == "fback-accepted", i
        if i == 8:
            assert E.attach(link)  # after 9 handovers: the same key pair
            assert bytes(E.hk_request(link.frames("MN", "rtsolpr")[-1]).spki) == first
    assert E.attach(link)
    assert "hke-retired" in link.kinds("MN")
    assert bytes(E.hk_request(link.frames("MN", "rtsolpr")[-1]).spki) != first


def test_defaults_hkepk_lifetime():
    """§3.7 HKEPK-LIFETIME default in behaviour: the key pair is replaced 12 h after it was made."""
    mcfg = E.mobile_cfg()
    mcfg.pop("hkepk_lifetime", None)
    link = E.pair(mobile=build_engine("mobile", mcfg))
    assert E.attach(link)
    first = bytes(E.hk_request(link.frames("MN", "rtsolpr")[-1]).spki)
    link.at(12 * 3600 * 1000 - 1)
    assert E.attach(link)
    assert bytes(E.hk_request(link.frames("MN", "rtsolpr")[-1]).spki) == first
    link.at(12 * 3600 * 1000)
    assert E.attach(link)
    assert bytes(E.hk_request(link.frames("MN", "rtsolpr")[-1]).spki) != first


def test_missing_keys_refused():
    for name in ("key", "link_local", "cga_params", "address", "cert_path", "anchor_names"):
        raises(ConfigError, build_engine, "router", _without(E.router_cfg(), name))
    for name in ("cga_key", "pcoa", "pcoa_params", "ncoa", "link_local", "router_address"):
        raises(ConfigError, build_engine, "mobile", _without(E.mobile_cfg(), name))
    nb = E.router_cfg()["neighbors"][0]
    for name in ("ap_lla", "nar_lla", "nar_address", "nar_prefix"):
        n = dict(nb)
        del n[name]
        raises(ConfigError, _router, neighbors=[n])
    # The optional ones may be left out.
    cfg = E.router_cfg()
    for name in ("lla", "neighbors", "min_bits"):
        cfg.pop(name, None)
    build_engine("router", cfg)


def test_bad_hex_refused():
    for value in ("zz", "abc", 5, None, ["00"]):
        raises(ConfigError, _router, link_local=value)
        raises(ConfigError, _mobile, pcoa=value)
    raises(ConfigError, _router, key="not hex")
    raises(ConfigError, _router, lla="0g")
    raises(ConfigError, _router, cert_path=["zz"])
    raises(ConfigError, _router, cert_path="00")
    raises(ConfigError, _router, anchor_names=[7])
    raises(ConfigError, _mobile, hke_keys=["xyz"])
    raises(ConfigError, _mobile, trust_anchors=["0"])


def test_wrong_lengths_refused():
    for n in (0, 15, 17, 32):
        v = "00" * n
        raises(ConfigError, _router, link_local=v)
        raises(ConfigError, _router, address=v)
        for name in ("pcoa", "ncoa", "link_local", "router_address"):
            raises(ConfigError, _mobile, **{name: v})
        nb = dict(E.router_cfg()["neighbors"][0])
        nb["nar_address"] = v
        raises(ConfigError, _router, neighbors=[nb])


def test_bad_keys_refused():
    anchor = E.mobile_cfg()["trust_anchors"][0]
    raises(ConfigError, _router, key=anchor)  # a certificate, not a private key
    raises(ConfigError, _router, key="")
    raises(ConfigError, _mobile, cga_key="3000")
    raises(ConfigError, _mobile, hke_keys=[anchor])
    raises(ConfigError, _mobile, hke_keys="00")


def test_bad_numbers_refused():
    for v in (0, 65536, -1, "43200", True, 1.5):
        raises(ConfigError, _router, hk_lifetime=v)
    raises(ConfigError, _router, table_capacity=0)
    raises(ConfigError, _mobile, hkepk_handovers=0)
    raises(ConfigError, _mobile, hkepk_lifetime=0)
    raises(ConfigError, _mobile, preferred_at=16)
    raises(ConfigError, _mobile, fbu_lifetime=-1)
    assert _router(hk_lifetime=65535).hk_lifetime_s == 65535
    assert _router(hk_lifetime=1).hk_lifetime_s == 1


def test_bad_ats_refused():
    """ATs must be registered (I§1), listed, and the preferred one supported."""
    for v in ([2], [0, 15], [], 1, "01", [True], None):
        raises(ConfigError, _router, ats=v)
        raises(ConfigError, _mobile, ats=v)
    raises(ConfigError, _mobile, preferred_at=1, ats=[0])
    raises(ConfigError, _mobile, preferred_at=2)
    assert _router(ats=[1]).ats == (1,)
    assert _mobile(preferred_at=0, ats=[0]).ats == (0,)


def test_bad_shapes_refused():
    raises(ConfigError, build_engine, "router", [])
    raises(ConfigError, build_engine, "router", None)
    raises(ConfigError, build_engine, "switch", E.router_cfg())
    raises(ConfigError, _router, hk_lifetme=60)  # a misspelt key is not silently ignored
    raises(ConfigError, _mobile, router_adress=E.mobile_cfg()["router_address"])
    raises(ConfigError, _router, neighbors={})
    raises(ConfigError, _router, neighbors=["00"])
    raises(ConfigError, _mobile, keylog="no")  # would have turned the key log on
    raises(ConfigError, _mobile, keylog=1)
    # "role" and "_"-prefixed notes are allowed.
    cfg = E.router_cfg(role="router", _note="PAR")
    build_engine("router", cfg)
    assert _mobile(keylog=True).keylog is True


def test_router_values_that_could_not_go_on_the_wire_are_refused_at_start():
    """Found by fuzzing: values that built an engine which then failed on every RtSolPr or CPS
    are refused when the router is built, never later while answering a peer."""

    cfg = E.router_cfg()
    cfg["neighbors"][0]["nar_prefix"] = "20010db8000200000000000000000001"  # a bit past /64
    raises(EncodeError, E.build_engine, "router", cfg)
    cfg = E.router_cfg()
    cfg["lla"] = "02" * 1300
    raises(EncodeError, E.build_engine, "router", cfg)
    cfg = E.router_cfg()
    cfg["cert_path"] = cfg["cert_path"] + ["308205dc" + "00" * 1500]
    raises(EncodeError, E.build_engine, "router", cfg)
    E.build_engine("router", E.router_cfg())  # the fixture itself is fine
    # Refused as configuration errors, like every per-key check.
    cfg = E.router_cfg()
    cfg["cert_path"] = ["00"]  # not one DER value
    raises(ConfigError, E.build_engine, "router", cfg)


def test_mobile_values_whose_messages_could_not_go_on_the_wire_are_refused_at_start():
    """The mobile node's counterpart: link-layer addresses (or keys, or trust anchor names) that
    would leave its RtSolPr or CPS too big for its 1500-octet buffer are a ConfigError when it
    is built, not an EncodeError out of handle() on every CPA from its router."""
    for name in ("lla", "target_ap"):
        cfg = E.mobile_cfg()
        cfg[name] = "02" * 900
        e = raises(ConfigError, E.build_engine, "mobile", cfg)
        assert "would not fit" in e.msg, e.msg
        cfg[name] = "02" * 32
        E.build_engine("mobile", cfg)
