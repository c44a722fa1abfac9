"""Fuzz driver (CPython): atheris (libFuzzer, coverage-guided) or, without atheris, a built-in mutator.

One target:
    python tests/fuzz/run.py TARGET [--builtin] [--fast-sign] [libFuzzer flags ...]
      corpus: build/fuzz/corpus/TARGET (new finds, created) then tests/fuzz/corpus/TARGET (seeds,
      read only) unless directories are given; crashes go to build/fuzz/crashes/TARGET-*.
All targets, one after another (what `make fuzz` runs), with per-target totals:
    python tests/fuzz/run.py --all [--runs N] [--targets a,b,...] [--builtin] [--fast-sign]
Reproduce a crash:
    python tests/fuzz/run.py TARGET build/fuzz/crashes/TARGET-crash-...

RSA is real by default. The router signs every PrRtAdv it answers an RtSolPr with, rejected or
not (a 2048-bit private-key operation), but coverage-guided inputs rarely get that far: in the
runs recorded in tests/fuzz/README.md about 7 % of router inputs reached the signing, under 1 %
a signature check, and the router target ran at ~15,000 inputs/s with real RSA against
~18,600 with --fast-sign, which replaces the engines' own signing (of frames they built, never
of input) by a stand-in (targets.set_fast_sign). Each run reports the RSA operations per input.
"""

import json
import os
import random
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SEEDS = os.path.join(HERE, "corpus")
WORK = os.environ.get("FUZZ_WORK") or os.path.join(ROOT, "build", "fuzz")  # finds, crashes, stats
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "dual"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

# The firmware modules to instrument: imported for the first time inside instrument_imports().
FIRMWARE_MODULES = (
    "handoverkey.errors", "handoverkey._compat", "handoverkey.wire.cursor", "handoverkey.wire.ipv6",
    "handoverkey.wire.ndopt", "handoverkey.wire.ndopt_extra", "handoverkey.wire.icmp", "handoverkey.wire.mh",
    "handoverkey.crypto",
    "handoverkey.crypto.rsakey", "handoverkey.crypto.pkcs1", "handoverkey.crypto.mac", "handoverkey.crypto.pure",
    "handoverkey.crypto.host", "handoverkey.send.asn1", "handoverkey.send.x509", "handoverkey.send.cga",
    "handoverkey.send.certpath", "handoverkey.send.signature", "handoverkey.send.replay", "handoverkey.algorithms",
    "handoverkey.keytable", "handoverkey.mobile_keys", "handoverkey.config", "handoverkey.config_router",
    "handoverkey.config_mobile", "handoverkey.router",
    "handoverkey.router_fast", "handoverkey.mobile",
)


def _import_targets(instrument):
    import importlib

    if instrument:
        import atheris

        with atheris.instrument_imports(include=["handoverkey", "targets"]):
            for m in FIRMWARE_MODULES:
                try:
                    importlib.import_module(m)
                except ImportError:
                    pass
            import targets
    else:
        import targets
    return targets


def _stats_path(target):
    return os.path.join(WORK, "stats", target + ".json")


def _write_stats(T, target, t0):
    s = dict(T.STATS)
    s["target"] = target
    s["seconds"] = round(time.monotonic() - t0, 3)
    os.makedirs(os.path.dirname(_stats_path(target)), exist_ok=True)
    with open(_stats_path(target), "w") as f:
        json.dump(s, f)


def _prepare(T, target, fast_sign):
    T.set_fast_sign(fast_sign)
    if target in T.ENGINE_TARGETS:
        T.fixture()  # built before fuzzing starts, not inside the first input
    for k in T.STATS:
        T.STATS[k] = 0


def run_atheris(target, fast_sign, fuzzer_args):
    import atheris

    T = _import_targets(True)
    if target not in T.TARGETS:
        sys.exit("unknown target %r; one of %s" % (target, ", ".join(T.NAMES)))
    _prepare(T, target, fast_sign)
    fn = T.TARGETS[target]
    stats = T.STATS
    t0 = time.monotonic()

    def one(data):
        stats["inputs"] += 1
        fn(data)
        if stats["inputs"] % 2000 == 0:
            _write_stats(T, target, t0)

    args = list(fuzzer_args)
    if not [a for a in args if not a.startswith("-")]:
        work = os.path.join(WORK, "corpus", target)
        os.makedirs(work, exist_ok=True)
        args += [work, os.path.join(SEEDS, target)]
    if not [a for a in args if a.startswith("-artifact_prefix=")]:
        os.makedirs(os.path.join(WORK, "crashes"), exist_ok=True)
        args.append("-artifact_prefix=" + os.path.join(WORK, "crashes", target + "-"))
    if not [a for a in args if a.startswith("-timeout=")]:
        args.append("-timeout=20")
    if not [a for a in args if a.startswith("-max_len=")]:
        # Long enough for every seed plus room to grow; and no length control, which would
        # otherwise cut a 600-octet frame to the current limit of a few dozen octets.
        longest = max([len(x) for x in load_corpus(target)] or [0])
        args.append("-max_len=%d" % max(4096, longest + 256))
    if not [a for a in args if a.startswith("-len_control=")]:
        args.append("-len_control=0")
    _write_stats(T, target, t0)
    # libFuzzer re-runs argv[0] through the shell for -merge and -fork: make it a whole command.
    argv0 = "%s %s %s%s" % (sys.executable, os.path.abspath(__file__), target, " --fast-sign" if fast_sign else "")
    atheris.Setup([argv0] + args, one)
    atheris.Fuzz()


# ---- the built-in mutator: no coverage feedback, but the same targets and the same corpus ----

_INTERESTING = (0, 1, 2, 7, 8, 0x0F, 0x10, 0x1F, 0x20, 0x30, 0x3F, 0x40, 0x7F, 0x80, 0x81, 0x82, 0xFE, 0xFF)


def mutate(rng, data, pool):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        n = len(b)
        if op == 0 and n:
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:
            b[rng.randrange(n)] = rng.choice(_INTERESTING)
        elif op == 2 and n:
            b[rng.randrange(n)] = rng.randrange(256)
        elif op == 3:
            p = rng.randrange(n + 1)
            b[p:p] = bytes([rng.randrange(256)] * rng.randint(1, 8))
        elif op == 4 and n > 1:
            p = rng.randrange(n)
            del b[p : p + rng.randint(1, 16)]
        elif op == 5 and n > 1:
            p = rng.randrange(n)
            q = rng.randrange(n)
            b[q:q] = b[p : p + rng.randint(1, 32)]
        elif op == 6 and n:
            del b[rng.randrange(n):]
        elif op == 7 and pool:
            other = rng.choice(pool)
            if other:
                p = rng.randrange(n + 1)
                q = rng.randrange(len(other))
                b[p:] = other[q : q + rng.randint(1, 64)] + b[p:]
        elif op == 8 and n > 1:
            # a 16-bit field somewhere set to a boundary value: lengths, counts
            p = rng.randrange(n - 1)
            v = rng.choice((0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF))
            b[p] = v >> 8
            b[p + 1] = v & 0xFF
    return bytes(b)


def load_corpus(target, dirs=None):
    out = []
    for d in dirs or [os.path.join(SEEDS, target), os.path.join(WORK, "corpus", target)]:
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
    return out


def run_builtin(target, fast_sign, runs, seed=1, dirs=None):
    """Seeds first, then `runs` mutated inputs; a crash is written to build/fuzz/crashes and re-raised."""
    T = _import_targets(False)
    if target not in T.TARGETS:
        sys.exit("unknown target %r" % target)
    _prepare(T, target, fast_sign)
    fn = T.TARGETS[target]
    pool = load_corpus(target, dirs) or [b""]
    rng = random.Random(seed)
    t0 = time.monotonic()
    done = 0
    for i in range(len(pool) + runs):
        data = pool[i] if i < len(pool) else mutate(rng, rng.choice(pool), pool)
        T.STATS["inputs"] += 1
        try:
            fn(data)
        except Exception:
            os.makedirs(os.path.join(WORK, "crashes"), exist_ok=True)
            import hashlib

            path = os.path.join(WORK, "crashes", "%s-crash-%s" % (target, hashlib.sha1(data).hexdigest()))
            with open(path, "wb") as f:
                f.write(data)
            print("CRASH in %s after %d inputs; input written to %s (hex %s)" % (target, done, path, data.hex()),
                  file=sys.stderr)
            _write_stats(T, target, t0)
            raise
        done += 1
    _write_stats(T, target, t0)
    secs = time.monotonic() - t0
    print("stat::number_of_executed_units: %d" % done, file=sys.stderr)
    print("stat::average_exec_per_sec: %d" % (done / secs if secs > 0 else 0), file=sys.stderr)
    print("Done %d runs in %d second(s)" % (done, int(secs)), file=sys.stderr)


# ---- --all: every target in its own process, totals per target ----


def _child(target, runs, builtin, fast_sign, extra):
    cmd = [sys.executable, os.path.abspath(__file__), target]
    if builtin:
        cmd += ["--builtin", "--runs", str(runs)]
    else:
        cmd += ["-runs=%d" % runs, "-print_final_stats=1"]
    if fast_sign:
        cmd.append("--fast-sign")
    cmd += extra
    try:
        os.remove(_stats_path(target))
    except OSError:
        pass
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    secs = time.monotonic() - t0
    out = p.stdout
    m = re.search(r"stat::number_of_executed_units: +(\d+)", out)
    units = int(m.group(1)) if m else None
    m = re.search(r"stat::average_exec_per_sec: +(\d+)", out)
    eps = int(m.group(1)) if m else None
    m = re.search(r"stat::new_units_added: +(\d+)", out)
    new = int(m.group(1)) if m else None
    crashed = p.returncode != 0
    stats = {}
    try:
        with open(_stats_path(target)) as f:
            stats = json.load(f)
    except (OSError, ValueError):
        pass
    if units is None:
        units = stats.get("inputs")
    if stats.get("inputs") and stats.get("seconds"):
        eps = int(stats["inputs"] / stats["seconds"])  # libFuzzer's figure is whole seconds only
    elif units and not eps:
        eps = int(units / secs)  # a short run: start-up included
    res = {"target": target, "inputs": units, "exec_per_s": eps, "new_units": new, "seconds": round(secs, 1),
           "crash": crashed, "exit": p.returncode}
    n = stats.get("inputs") or 0
    for k in ("rsa_verify", "rsa_sign", "rsa_encrypt", "rsa_decrypt_implicit"):
        if stats.get(k):
            res[k + "_per_input"] = round(stats[k] / n, 4) if n else None
    if crashed:
        tail = out[-4000:]
        res["output_tail"] = tail
    return res


def run_all(argv):
    import argparse

    ap = argparse.ArgumentParser(prog="run.py --all")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--runs", type=int, default=1000000)
    ap.add_argument("--targets", default="")
    ap.add_argument("--builtin", action="store_true")
    ap.add_argument("--fast-sign", action="store_true")
    ap.add_argument("--json", action="store_true")
    args, extra = ap.parse_known_args(argv)
    builtin = args.builtin
    if not builtin:
        try:
            import atheris  # noqa: F401
        except ImportError:
            print("atheris not importable: using the built-in mutator (no coverage feedback)")
            builtin = True
    T = _import_targets(False)
    names = [n for n in args.targets.split(",") if n] or list(T.NAMES)
    results = []
    failed = 0
    for name in names:
        print("== fuzz %s: %d inputs (%s)" % (name, args.runs, "built-in mutator" if builtin else "atheris"), flush=True)
        r = _child(name, args.runs, builtin, args.fast_sign, extra)
        results.append(r)
        rsa = ", ".join("%s %.4f" % (k[:-10], v) for k, v in sorted(r.items()) if k.endswith("_per_input") and v)
        print("   %-15s inputs %-9s exec/s %-7s new %-6s %6.1f s  %s%s" % (
            name, r["inputs"], r["exec_per_s"], r["new_units"], r["seconds"], "CRASH" if r["crash"] else "ok",
            ("  RSA per input: " + rsa) if rsa else ""), flush=True)
        if r["crash"]:
            failed += 1
            print(r.get("output_tail", ""))
    print("== totals")
    for r in results:
        print("   %-15s inputs %-9s exec/s %-7s %s" % (r["target"], r["inputs"], r["exec_per_s"],
                                                     "CRASH" if r["crash"] else "ok"))
    if args.json:
        print(json.dumps(results))
    return 1 if failed else 0


def main(argv):
    if "--all" in argv:
        return run_all(argv)
    if not argv or argv[0].startswith("-"):
        print(__doc__)
        return 2
    target = argv[0]
    rest = argv[1:]
    fast_sign = "--fast-sign" in rest
    rest = [a for a in rest if a != "--fast-sign"]
    if "--builtin" in rest:
        rest.remove("--builtin")
        runs = 10000
        if "--runs" in rest:
            i = rest.index("--runs")
            runs = int(rest[i + 1])
            del rest[i : i + 2]
        seed = 1
        if "--seed" in rest:
            i = rest.index("--seed")
            seed = int(rest[i + 1])
            del rest[i : i + 2]
        run_builtin(target, fast_sign, runs, seed, [d for d in rest if not d.startswith("-")] or None)
        return 0
    run_atheris(target, fast_sign, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
