"""Fault injection: a process checkpointing its key table is killed with SIGKILL at random points,
on CPython and on MicroPython; a restore must then give exactly the keys of the last completed
checkpoint or of the one after it, never fewer, never a key the process did not write, never a
file that is half old and half new.

The victim is tests/host/keystore_crash_writer.py (its workload is imported here to compute what
each checkpoint held). Kill points are of two kinds:
  random   a uniform delay after the victim is ready (fast and slowed-down writing);
  aimed    right after the victim announces a phase of checkpoint g (g random), plus a random
           delay shorter than that phase: while the store's temporary file is being written,
           between its write (flushed, fsynced, closed) and its rename, between the store's
           rename and the counter's, while the counter's temporary file is written. The slowed
           mode (chunked writes, pauses before renames) makes those phases milliseconds long.
The phase each kill actually landed in is read from the victim's last line.

Set KEYSTORE_FAULT_TRIALS=N to scale the number of trials (default 1: about 45 kills per
interpreter, 15-25 s in all); KEYSTORE_FAULT_SEED to replay a run.
"""

import importlib.util
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from handoverkey import keystore
from handoverkey.keytable import KeyTable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRITER = os.path.join(ROOT, "tests", "host", "keystore_crash_writer.py")
FIRMWARE = os.path.join(ROOT, "firmware")
SECRET = bytes(range(40, 72))
BATCHES = 300  # more than a victim completes before its kill; restored at WALL0 + 1000 >= WALL0 + 300
SCALE = int(os.environ.get("KEYSTORE_FAULT_TRIALS", "1"))
SEED = int(os.environ.get("KEYSTORE_FAULT_SEED", str(int(time.time()))))

_spec = importlib.util.spec_from_file_location("keystore_crash_writer", WRITER)
W = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(W)

RESTORE_WALL = W.WALL0 + 1000


def _mpy():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


_expected_cache = {}


def expected(seed, g):
    """What restoring checkpoint g at RESTORE_WALL (now_ms 0) must give: [(addr, fp, at, key,
    expires_ms)] in LRU order, and the number of entries the file held."""
    key = (seed, g)
    if key not in _expected_cache:
        t = KeyTable(W.CAPACITY)
        for b in range(1, g + 1):
            now_ms, wall_s = W.batch(t, seed, b)
        out = []
        n = 0
        for a, fp, at, k, exp_ms in t.items(now_ms):
            n += 1
            exp_wall = wall_s + (exp_ms - now_ms) // 1000
            remaining = min(exp_wall - RESTORE_WALL - 1, keystore.MAX_RESTORE_LIFETIME_S)
            if remaining >= 1:
                out.append((a, fp, at, k, remaining * 1000))
        _expected_cache[key] = (out, n)
    return _expected_cache[key]


_PHASES = {
    "store-write": "writing the store's temporary file",
    "store written": "store temp file written (flushed, fsynced, closed), before its rename",
    "store-rename": "at the store's rename",
    "store-renamed": "store renamed, counter not yet",
    "counter-write": "writing the counter's temporary file",
    "counter written": "counter temp file written, before its rename",
    "counter-rename": "at the counter's rename",
    "counter-renamed": "counter renamed, before 'done' was printed",
}


def _phase_of(last):
    """The phase a kill landed in, from the victim's last line ("stage G what")."""
    if last is None or last == "ready" or last.startswith("batch") or last.endswith(" done"):
        return "between checkpoints (provisioning)"
    if last == "finished":
        return "after the last checkpoint (not killed)"
    if last.startswith("stage "):
        return _PHASES.get(last.split(" ", 2)[2], last)
    return last


def run_trial(cmd_prefix, rng, kind, workdir):
    """One victim run, killed per `kind`; returns (completed N, last line, lines)."""
    d = tempfile.mkdtemp(dir=workdir)
    seed = "s%d" % rng.randrange(10**6)
    mode = "fast" if kind == "random-fast" else "slow"
    proc = subprocess.Popen(cmd_prefix + [WRITER, d, SECRET.hex(), seed, str(BATCHES), mode, FIRMWARE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    lines = []
    try:
        line = proc.stdout.readline().decode().strip()
        lines.append(line)
        if line != "ready":
            raise AssertionError("victim did not start: %r %r" % (line, proc.stderr.read()))
        if kind.startswith("random"):
            time.sleep(rng.uniform(0, 0.25))
        else:
            # aimed: wait for the announcement of a phase of checkpoint g, then a delay inside it.
            g = rng.randint(1, 8)
            target, max_ms = {
                "aimed-store-write": ("stage %d store-write" % g, 10),
                "aimed-store-written": ("stage %d store written" % g, 2.5),
                "aimed-store-renamed": ("stage %d store-renamed" % g, 3),
                "aimed-counter-write": ("stage %d counter-write" % g, 1),
            }[kind]
            while True:
                line = proc.stdout.readline().decode().strip()
                if not line:
                    raise AssertionError("victim exited before %r" % target)
                lines.append(line)
                if line == target:
                    break
            time.sleep(rng.uniform(0, max_ms) / 1000.0)
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += [x for x in rest.decode().splitlines() if x.strip()]
    done = [int(x.split()[1]) for x in lines if x.startswith("checkpoint ") and x.endswith(" done")]
    completed = max(done) if done else 0
    return d, seed, completed, lines[-1] if lines else None, proc.returncode


def disk_state(d, completed):
    """What the kill left on disk, before any restore touches it."""
    path = os.path.join(d, "store")
    left = sorted(os.listdir(d))
    head = keystore.inspect(path, SECRET, W.CAPACITY)
    try:
        ctr = keystore.read_counter(path + ".gen", keystore.derive_keys(SECRET)[2])
    except keystore.RestoreError:
        ctr = "invalid"
    if head is None:
        return "no store yet"
    if ctr == head[0] - 1:
        return "new store renamed, counter one behind"
    if ctr != head[0]:
        return "store %d with counter %s" % (head[0], ctr)
    if head[0] == completed and any(x == "store.tmp" for x in left):
        return "old store, next store's temporary file left behind"
    return "store and counter consistent"


def check_restore(d, seed, completed):
    """The invariant; returns the generation restored (0: none) and what was left in the directory."""
    path = os.path.join(d, "store")
    left = sorted(os.listdir(d))
    t = KeyTable(W.CAPACITY)
    try:
        gen, restored, dropped = keystore.restore(t, path, SECRET, 0, RESTORE_WALL)
    except keystore.RestoreError as e:
        # Only acceptable before the first checkpoint's store was renamed into place.
        assert completed == 0, "completed checkpoint %d, restore refused: %s (files %s)" % (completed, e.reason, left)
        assert e.reason == "no-store", (e.reason, left)
        assert len(t) == 0
        return 0, left
    assert completed <= gen <= completed + 1, "restored generation %d after %d completed" % (gen, completed)
    want, n = expected(seed, gen)
    got = list(t.items())
    assert got == want, "generation %d: restored keys differ from what the victim wrote (files %s)" % (gen, left)
    assert restored == len(want) and restored + dropped == n
    # The restore left the counter at least at the restored generation.
    assert keystore.read_counter(path + ".gen", keystore.derive_keys(SECRET)[2]) >= gen
    return gen, left


PLAN = ["random-fast"] * 8 + ["random-slow"] * 8 + ["aimed-store-write"] * 8 + ["aimed-store-written"] * 7 + \
    ["aimed-store-renamed"] * 7 + ["aimed-counter-write"] * 7


def _run(cmd_prefix, label, tmp_path):
    rng = random.Random("%s/%d" % (label, SEED))
    plan = PLAN * SCALE
    rng.shuffle(plan)
    tally = {}
    states = {}
    gens = {"same as last completed": 0, "the one in progress": 0, "none (no checkpoint yet)": 0}
    for kind in plan:
        d, seed, completed, last, rc = run_trial(cmd_prefix, rng, kind, str(tmp_path))
        phase = _phase_of(last)
        state = disk_state(d, completed)
        states[state] = states.get(state, 0) + 1
        try:
            gen, left = check_restore(d, seed, completed)
        except AssertionError as e:
            raise AssertionError("%s trial %s (seed %s, KEYSTORE_FAULT_SEED=%d), killed at %r: %s"
                                 % (label, kind, seed, SEED, last, e))
        tally[phase] = tally.get(phase, 0) + 1
        if gen == 0:
            gens["none (no checkpoint yet)"] += 1
        elif gen == completed:
            gens["same as last completed"] += 1
        else:
            gens["the one in progress"] += 1
        shutil.rmtree(d, ignore_errors=True)
    print("\n%s: %d SIGKILL trials (seed %d), every restore exact" % (label, len(plan), SEED))
    for k in sorted(tally):
        print("  %3d killed: %s" % (tally[k], k))
    for k in sorted(states):
        print("  %3d left on disk: %s" % (states[k], k))
    print("  restored generation: %s" % ", ".join("%s %d" % kv for kv in sorted(gens.items())))
    # The kills must have left the states that matter (else the test tests less than it says): a
    # torn or complete temporary file beside the old store, and a new store ahead of its counter.
    assert states.get("old store, next store's temporary file left behind", 0) > 0, states
    assert states.get("new store renamed, counter one behind", 0) > 0, states
    assert gens["the one in progress"] > 0, gens
    return tally


def test_sigkill_during_checkpoints_cpython(tmp_path):
    _run([sys.executable], "cpython", tmp_path)


def test_sigkill_during_checkpoints_micropython(tmp_path):
    mpy = _mpy()
    if mpy is None:
        pytest.skip("micropython command not found")
    _run([mpy, "-X", "heapsize=4M"], "micropython", tmp_path)
