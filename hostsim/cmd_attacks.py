"""`hostsim attacks`: run every attack scenario (hostsim/attacks.py) and report whether it was rejected.

Exit status 0 only when every attack was rejected, every legitimate key stayed intact and every
attack frame was stopped by the check it was aimed at; 1 otherwise; 2 for a bad --only name.
"""

import json
import sys
import time

from . import attacks


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="one JSON object per attack per line")
    p.add_argument("--target", choices=("cpython", "micropython"), default="cpython",
                   help="where the engines run (default cpython); the attacker always runs on CPython")
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this attack (repeatable, or comma-separated); see --list")
    p.add_argument("--list", action="store_true", help="list the attacks and exit")
    p.add_argument("--checks", action="store_true",
                   help="with the table: show every attack frame and the check that stopped it")


def _selected(args):
    if not args.only:
        return attacks.names()
    out = []
    for item in args.only:
        out.extend(n.strip() for n in item.split(",") if n.strip())
    return out


def _yn(v, yes, no):
    return yes if v else no


def run(args, out=None):
    out = out or sys.stdout
    if args.list:
        for name, summary in attacks.summaries():
            print("%-26s %s" % (name, summary), file=out)
        return 0
    names = _selected(args)
    unknown = [n for n in names if n not in attacks.names()]
    if unknown:
        print("unknown attack(s): %s (try --list)" % ", ".join(unknown), file=sys.stderr)
        return 2
    t0 = time.monotonic()
    results = []
    if not args.json:
        print("handoverkey attacks: engines on %s" % args.target, file=out)
        print("%-26s %-9s %-10s %7s  %s" % ("attack", "rejected", "legit key", "seconds", "detail"), file=out)
    for res in attacks.run_all(args.target, names):
        results.append(res)
        if args.json:
            line = {k: res[k] for k in ("name", "target", "rejected", "legitimate_key_intact", "checks_ok",
                                        "detail", "seconds")}
            line["checks"] = res["checks"]
            print(json.dumps(line), file=out, flush=True)
        else:
            print("%-26s %-9s %-10s %7.2f  %s" % (
                res["name"], _yn(res["rejected"], "yes", "NO"),
                _yn(res["legitimate_key_intact"], "intact", "NOT INTACT"), res["seconds"], res["detail"]),
                file=out, flush=True)
            if args.checks:
                for c in res["checks"]:
                    print("%37s %-4s %s -> %s" % ("", c["node"], c["variant"], ",".join(c["observed"]) or "nothing"),
                          file=out)
    ok = all(r["rejected"] and r["legitimate_key_intact"] and r["checks_ok"] for r in results)
    if not args.json:
        bad = [r["name"] for r in results if not (r["rejected"] and r["legitimate_key_intact"] and r["checks_ok"])]
        print("%s: %d attack(s) on %s in %.1f s%s" % (
            "PASS" if ok else "FAIL", len(results), args.target, time.monotonic() - t0,
            "" if ok else "; failed: " + ", ".join(bad)), file=out)
    return 0 if ok else 1
