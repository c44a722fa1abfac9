"""Runs tests/dual/test_*.py under MicroPython (or CPython) without pytest; prints a pytest-like tally.

usage: micropython tests/dual/runner.py [-k SUBSTRING] [-v] [FILE ...]
"""

import os
import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE)
sys.path.insert(0, _HERE + "/../../firmware")


def _print_exc(e):
    pe = getattr(sys, "print_exception", None)
    if pe:
        pe(e)
    else:
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__)


def main(argv):
    verbose = "-v" in argv
    pattern = None
    files = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-k":
            pattern = argv[i + 1]
            i += 1
        elif a != "-v":
            files.append(a.rsplit("/", 1)[-1])
        i += 1
    if not files:
        files = sorted(f for f in os.listdir(_HERE) if f.startswith("test_") and f.endswith(".py"))
    passed = failed = 0
    per_module = []
    for fname in files:
        modname = fname[:-3]
        try:
            mod = __import__(modname)
        except Exception as e:
            print("ERROR importing", modname)
            _print_exc(e)
            failed += 1
            continue
        names = sorted(n for n in dir(mod) if n.startswith("test_"))
        mp = mf = 0
        for n in names:
            if pattern and pattern not in n and pattern not in modname:
                continue
            fn = getattr(mod, n)
            try:
                fn()
                mp += 1
                if verbose:
                    print("PASS", modname, n)
            except Exception as e:
                mf += 1
                print("FAIL", modname, n)
                _print_exc(e)
        passed += mp
        failed += mf
        per_module.append((modname, mp, mf))
    impl = sys.implementation.name
    for modname, mp, mf in per_module:
        print("%s %s: %d passed, %d failed" % (impl, modname, mp, mf))
    print("%s: %d passed, %d failed" % (impl, passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
