"""The MicroPython half of `python -m hostsim bench`: run as `micropython hostsim/upy/bench.py DATA.json`.

DATA (written by hostsim/cmd_bench.py) holds one key size's router config, RtSolPrs, HKE keys
with ciphertexts, and the mobile node whose FBUs are timed. Prints one JSON object of timings
(microseconds on a CPU: wall time less the time spent waiting for one; best round):

  prov_us / prov_pow_us        Router.handle(RtSolPr) -> PrRtAdv, all frames of a round, and the
                               bare pow() cost of the same RSA work: for each RtSolPr the router
                               key's two CRT half exponentiations (x^dp mod p, x^dq mod q), the
                               signature check s^e mod n of the mobile node's CGA key and the
                               encryption m^e mod n of its HKE key
  dec_us / dec_pow_us          crypto.rsa_decrypt_implicit(hke, c, key_len) against the same key's
                               two CRT half exponentiations of c
  fbu_us / hmac_us             Router.handle(FBU) (a valid FBU, new sequence number, A flag clear)
                               against one-shot crypto.mac.hmac_sha256 of the same MAC input
                               (the firmware's HMAC: MicroPython has no hmac module)
Not a firmware module; runs only under the micropython command with MICROPYPATH=firmware.
"""

import gc
import json
import os
import sys
import time

from handoverkey import algorithms, crypto
from handoverkey.config import build_engine
from handoverkey.crypto import mac
from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.wire import icmp, ipv6, mh, ndopt


def _rand_below(n, size):
    return int.from_bytes(os.urandom(size), "big") % n


def _run_delay_us():
    # Linux: nanoseconds this process spent runnable but waiting for a CPU (2nd field of
    # /proc/self/schedstat, brought up to date each time the process is scheduled in).
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) // 1000
    except (OSError, ValueError, IndexError):
        return 0


def _timed(fn, *args):
    """(microseconds on a CPU, result): wall time minus the time spent waiting for a CPU, as the
    machine is shared. A collection first, so every round starts from the same heap state."""
    gc.collect()
    w = _run_delay_us()
    t = time.ticks_us()
    r = fn(*args)
    t = time.ticks_diff(time.ticks_us(), t)
    return t - (_run_delay_us() - w), r


def _reply_key(prrtadv, hke):
    pkt = ipv6.decode_packet(prrtadv)
    msg = icmp.decode_icmp(prrtadv, pkt.payload_off, pkt.payload_end)
    o = msg.find(ndopt.OPT_HK_REPLY)
    reply = ndopt.get_hk_reply(prrtadv, o[1], o[2])
    return reply.at, crypto.rsa_decrypt_implicit(hke, bytes(reply.enc_key), algorithms.key_len(reply.at))


def _fbu(key, at, pcoa, ncoa, par, seq):
    # A predictive FBU laid out as mobile.py _send_fbu does, with only the H flag (no FBack asked).
    alen = algorithms.auth_len(at)
    buf = bytearray(256)
    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_DEST_OPTS, 64, pcoa, par)
    off = ipv6.encode_dest_opts_hao(buf, off, mh.IPPROTO_MH, pcoa)
    mh_off = off
    end, auth_off = mh.encode_fbu(buf, off, seq, mh.FBU_H, 30, alen, ncoa)
    parts = mh.badf_mac_parts(buf, mh_off, auth_off, ncoa, par)
    mh.set_authenticator(buf, auth_off, alen, algorithms.mac(at, key, *parts))
    ipv6.finish(buf, 0, end)
    return bytes(buf[:end])


def _mac_input(frame):
    pkt = ipv6.decode_packet(frame)
    m = mh.decode_mh(frame, pkt.payload_off, pkt.payload_end)
    out = b""
    for p in mh.badf_mac_parts(frame, m.off, m.auth_off, m.alt_coa, pkt.dst):
        out += bytes(p)
    return out


def _kinds(out):
    return [e[0] for e in out[1]]


def bench(d):
    rounds = d["rounds"]
    wall = d["wall_s"]
    res = {}

    # -- provisioning: a fresh router per round (no replay memory), warmed up by one RtSolPr --
    cfg = d["router"]
    warm = bytes.fromhex(d["warmup"])
    frames = [bytes.fromhex(h) for h in d["rtsolprs"]]
    pubs = [(int(c, 16), int(h, 16)) for c, h in d["moduli"]]  # (CGA n, HKE n) per RtSolPr, e = 65537
    e = 65537

    def provision(r):
        outs = []
        h = r.handle
        for f in frames:
            outs.append(h(f, 1000, wall))
        return outs

    rk = None

    def pow_work(xs):
        for i in range(len(xs)):
            x, s, m = xs[i]
            pow(x, rk.dp, rk.p)
            pow(x, rk.dq, rk.q)
            pow(s, e, pubs[i][0])
            pow(m, e, pubs[i][1])

    best_prov = best_pow = None
    for _ in range(rounds):
        r = build_engine("router", cfg)
        rk = r.key
        r.handle(warm, 1000, wall)
        t, outs = _timed(provision, r)
        for o in outs:
            if "key-provisioned" not in _kinds(o):
                raise SystemExit("provisioning failed: %r" % (_kinds(o),))
        outs = None
        best_prov = t if best_prov is None else min(best_prov, t)
        xs = [(_rand_below(rk.n, rk.size), _rand_below(c, rk.size), _rand_below(h, rk.size)) for c, h in pubs]
        t, _ = _timed(pow_work, xs)
        best_pow = t if best_pow is None else min(best_pow, t)
        r = None
    res["provisionings"] = len(frames)
    res["prov_us"] = best_prov
    res["prov_pow_us"] = best_pow

    # -- the mobile node's decryption of the Handover Key Reply --
    hke = [RsaPrivateKey.from_pkcs8(bytes.fromhex(k)) for k in d["hke_keys"]]
    cts = [(hke[i % len(hke)], bytes.fromhex(c)) for i, c in enumerate(d["ciphertexts"])]
    klen = d["key_len"]
    for k, c in cts[: len(hke)]:
        crypto.rsa_decrypt_implicit(k, c, klen)  # warm-up: derives each key's implicit-rejection key once

    def decrypt():
        for k, c in cts:
            crypto.rsa_decrypt_implicit(k, c, klen)

    def dec_pow(cs):
        for k, c in cs:
            pow(c, k.dp, k.p)
            pow(c, k.dq, k.q)

    ints = [(k, int.from_bytes(c, "big")) for k, c in cts]
    best_dec = best_dpow = None
    for _ in range(rounds):
        t, _ = _timed(decrypt)
        best_dec = t if best_dec is None else min(best_dec, t)
        t, _ = _timed(dec_pow, ints)
        best_dpow = t if best_dpow is None else min(best_dpow, t)
    res["decryptions"] = len(cts)
    res["dec_us"] = best_dec
    res["dec_pow_us"] = best_dpow

    # -- FBU verification on a router that holds the key (learnt by decrypting its PrRtAdv) --
    r = build_engine("router", cfg)
    out = r.handle(bytes.fromhex(d["fbu_rtsolpr"]), 1000, wall)
    if "key-provisioned" not in _kinds(out):
        raise SystemExit("FBU set-up: no key provisioned")
    at, hk = _reply_key(out[0][0], hke[d["fbu_hke"]])
    pcoa = bytes.fromhex(d["fbu_pcoa"])
    ncoa = bytes.fromhex(d["ncoa"])
    per = d["fbus_per_round"]
    fbus = [_fbu(hk, at, pcoa, ncoa, r.address, (s + 1) & 0xFFFF) for s in range(per * rounds)]
    macin = _mac_input(fbus[0])
    hmac = mac.hmac_sha256 if at == 1 else mac.hmac_sha1

    def fbu_round(batch):
        h = r.handle
        outs = []
        for f in batch:
            outs.append(h(f, 2000, wall))
        return outs

    def hmac_round(n):
        for _ in range(n):
            hmac(hk, macin)

    best_fbu = best_hmac = None
    for i in range(rounds):
        t, outs = _timed(fbu_round, fbus[i * per : (i + 1) * per])
        for o in outs:
            if _kinds(o) != ["fbu-accepted"]:
                raise SystemExit("FBU not accepted: %r" % (_kinds(o),))
        outs = None
        best_fbu = t if best_fbu is None else min(best_fbu, t)
        t, _ = _timed(hmac_round, per)
        best_hmac = t if best_hmac is None else min(best_hmac, t)
    res["fbus"] = per
    res["fbu_us"] = best_fbu
    res["hmac_us"] = best_hmac
    return res


def main(argv):
    with open(argv[1]) as f:
        d = json.load(f)
    print(json.dumps(bench(d)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
