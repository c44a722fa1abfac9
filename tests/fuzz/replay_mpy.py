"""Feed every file of tests/fuzz/corpus/<target>/ to its target; runs on MicroPython and CPython.

    MICROPYPATH=firmware micropython -X heapsize=8M tests/fuzz/replay_mpy.py [--fast-sign] [--lines] [TARGET ...]
    python tests/fuzz/replay_mpy.py [...]

Every input must meet the target's invariant (tests/fuzz/targets.py): a value or the
documented error from a decoder, (frames, events) and an unchanged key table from an engine.
Prints one line per target ("<impl> <target>: N inputs, F failed") and, with --lines, one line
per input ("= target file outcome"), which tests/host/test_fuzz_smoke.py compares between the
two interpreters. Exit status 1 when any input failed.
"""

import os
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE)
sys.path.insert(0, _HERE + "/../dual")
sys.path.insert(0, _HERE + "/../../firmware")

import targets as T  # noqa: E402


def _files(target):
    d = _HERE + "/corpus/" + target
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return []
    return [(n, d + "/" + n) for n in names]


def main(argv):
    lines = "--lines" in argv
    T.set_fast_sign("--fast-sign" in argv)
    names = [a for a in argv if not a.startswith("-")] or list(T.NAMES)
    impl = sys.implementation.name
    total = 0
    failed = 0
    for name in names:
        if name not in T.TARGETS:
            print("unknown target", name)
            return 2
        n = 0
        bad = 0
        for fname, path in _files(name):
            with open(path, "rb") as f:
                data = f.read()
            out = T.outcome(name, data)
            n += 1
            if out.startswith("finding:") or out.startswith("crash:"):
                bad += 1
                print("FAIL %s %s %s" % (name, fname, out))
                print("     input hex %s" % data.hex())
            if lines:
                print("= %s %s %s" % (name, fname, out))
        print("%s %s: %d inputs, %d failed" % (impl, name, n, bad))
        total += n
        failed += bad
    print("%s replay: %d inputs, %d failed" % (impl, total, failed))
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
