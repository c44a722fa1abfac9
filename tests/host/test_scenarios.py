"""The demo end to end on both targets, its capture checked by tshark and by an independent oracle."""

import itertools
import json
import os
import shutil
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

import oracle
from hostsim.keylog import parse_keylog
from hostsim.pcap import read_pcap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMBOS = list(itertools.product(("cpython", "micropython"), (0, 1), ("predictive", "reactive"), (1024, 2048)))


def run_demo(tmp_path, target, at, mode, bits, extra=()):
    pcap, keylog = tmp_path / "demo.pcap", tmp_path / "demo.keylog"
    cmd = [sys.executable, "-m", "hostsim", "demo", "--target", target, "--at", str(at), "--mode", mode,
           "--key-bits", str(bits), "--pcap", str(pcap), "--keylog", str(keylog), *extra]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return r, pcap, keylog


def tshark_frames(pcap):
    out = subprocess.run(["tshark", "-r", str(pcap), "-T", "json"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def find_key(tree, key):
    """The first value of `key` anywhere in tshark's JSON (the MH sits inside the IPv6 layer)."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                return v
            found = find_key(v, key)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for v in tree:
            found = find_key(v, key)
            if found is not None:
                return found
    return None


def check_capture(pcap, keylog, at, bits):
    """Everything in the capture verifies independently of the firmware code."""
    assert keylog.stat().st_mode & 0o077 == 0, "the key log holds secret keys: owner only"
    log = parse_keylog(keylog.read_text())
    _, frames = read_pcap(str(pcap))
    pkts = [oracle.Packet(f) for f in frames]
    kinds = []
    hke_by_nonce = {}
    handover = log.handover_keys[-1]
    mn_cga, par_addr, logged_at, hk = handover
    assert logged_at == at and len(hk) == oracle.AT_TABLE[at][1]
    for p in pkts:
        if p.nh == 58:
            csum_ok = oracle.upper_checksum(p.src, p.dst, 58, p.upper) == 0
            assert csum_ok, "ICMPv6 checksum"
            if p.upper[0] == 154:
                assert p.hop_limit == 255
                cga, sig, spki = oracle.send_signature_ok(p)
                assert cga and sig, "CGA %s signature %s" % (cga, sig)
                nonce = oracle.option(p, 14)[2:]
                if p.upper[4] == 2:
                    kinds.append("RtSolPr")
                    req = oracle.option(p, 27)
                    assert req[3] >> 4 == at
                    hke_spki = req[4:len(req) - req[2]]
                    assert len(spki) == len(hke_spki)  # same parameters as the CGA key (RFC 5269 §3.1)
                    hke_by_nonce[nonce] = hke_spki
                else:
                    kinds.append("PrRtAdv")
                    reply = oracle.option(p, 28)
                    assert reply[3] >> 4 == at
                    enc = reply[6:len(reply) - reply[2]]
                    assert len(enc) == bits // 8
                    hke_spki = hke_by_nonce[nonce]
                    import hashlib
                    kh = hashlib.sha1(hke_spki).digest()[:16]
                    priv = serialization.load_der_private_key(log.hke_private_keys[kh], None)
                    assert priv.decrypt(enc, padding.PKCS1v15()) == hk, "HK Reply decrypts to the logged key"
        elif p.nh == 135:
            pseudo_src = p.hao if p.hao is not None else p.src
            assert oracle.upper_checksum(pseudo_src, p.dst, 135, p.upper) == 0, "MH checksum"
            if p.upper[2] == 8:
                kinds.append("FBU")
                assert p.hao == mn_cga and p.dst == par_addr
                coa = oracle.mh_alt_coa(p) or p.src
                assert oracle.badf_ok(p, hk, at, coa, p.dst), "FBU BADF"
                ncoa = coa
            else:
                kinds.append("FBack")
                assert oracle.badf_ok(p, hk, at, ncoa, p.src), "FBack BADF"
    assert kinds[:2] == ["RtSolPr", "PrRtAdv"] and "FBU" in kinds and "FBack" in kinds
    return frames


@pytest.mark.parametrize("target,at,mode,bits", COMBOS)
def test_demo_pcap_independent_check(tmp_path, target, at, mode, bits):
    r, pcap, keylog = run_demo(tmp_path, target, at, mode, bits)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS" in r.stdout
    frames = check_capture(pcap, keylog, at, bits)
    if shutil.which("tshark"):
        decoded = tshark_frames(pcap)
        assert len(decoded) == len(frames)
        for d in decoded:
            layers = d["_source"]["layers"]
            if "icmpv6" in layers:
                assert layers["icmpv6"].get("icmpv6.checksum.status") == "1", layers["icmpv6"]
            else:
                assert find_key(layers, "mip6.mhtype") in ("8", "9")


@pytest.mark.parametrize("router,mobile", [("micropython", "cpython"), ("cpython", "micropython")])
def test_same_verdicts_with_either_role_in_micropython(tmp_path, router, mobile):
    r, pcap, keylog = run_demo(tmp_path, "cpython", 1, "predictive", 1024,
                               ["--router-target", router, "--mobile-target", mobile])
    assert r.returncode == 0, r.stdout + r.stderr
    check_capture(pcap, keylog, 1, 1024)


def test_demo_fails_when_the_par_rejects(tmp_path, monkeypatch):
    """The demo's exit status follows the PAR's verdict: make the MN's MACs wrong and it must fail."""
    from handoverkey import algorithms
    from hostsim import cmd_demo

    real_mac = algorithms.mac
    monkeypatch.setattr(algorithms, "mac", lambda at, key, *parts: bytes(b ^ 1 for b in real_mac(at, key, *parts)))

    class Args:
        target, router_target, mobile_target, key_bits, at, mode = "cpython", None, None, 1024, 1, "predictive"
        pcap = keylog = None
        quiet = True

    assert cmd_demo.run_demo(Args(), out=open(os.devnull, "w")) == 1


def test_demo_writes_a_capture_per_link(tmp_path):
    r, pcap, _ = run_demo(tmp_path, "cpython", 1, "reactive", 1024)
    assert r.returncode == 0, r.stderr
    _, every = read_pcap(str(pcap))
    per_link = {}
    for link in ("par-link", "nar-link"):
        _, per_link[link] = read_pcap(str(tmp_path / ("demo.%s.pcap" % link)))
        assert per_link[link]
    assert sorted(per_link["par-link"] + per_link["nar-link"]) == sorted(every)
    # The reactive FBU leaves on the NAR's link and is routed to the PAR's (hop limit one lower).
    fbu_hops = sorted(f[7] for f in every if f[6] == 60)
    assert len(fbu_hops) == 2 and fbu_hops[0] + 1 == fbu_hops[1]
