"""Short fuzz runs of every target for CI, and the committed corpus replayed on MicroPython.

The long runs are `make fuzz` (tests/fuzz/run.py --all, a million inputs per target). Here each
target gets a few thousand inputs: with atheris (coverage-guided) when it imports, otherwise
with the built-in mutator of tests/fuzz/run.py, so the test needs nothing beyond the declared
dependencies. Every run is a subprocess: the targets replace crypto.random_bytes with a
deterministic stream, which must not leak into the other tests of this process.
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "tests", "fuzz")
sys.path.insert(0, FUZZ)

import targets  # noqa: E402  (only its names are used here; nothing runs at import)

RUNS = 2000

try:
    import atheris  # noqa: F401

    HAVE_ATHERIS = True
except ImportError:
    HAVE_ATHERIS = False


def _mpy():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    from shutil import which

    return which("micropython")


def _corpus_files(name):
    d = os.path.join(FUZZ, "corpus", name)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


@pytest.mark.parametrize("name", targets.NAMES)
def test_every_target_has_seeds(name):
    assert _corpus_files(name), "tests/fuzz/corpus/%s is empty: run tests/fuzz/make_corpus.py" % name


def test_committed_corpus_is_small():
    total = 0
    for dirpath, _, files in os.walk(os.path.join(FUZZ, "corpus")):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    assert total < 2 * 1024 * 1024, total


@pytest.mark.parametrize("name", targets.NAMES)
def test_smoke_fuzz(name, tmp_path):
    """A few thousand inputs (real RSA); any exception or broken invariant fails."""
    env = dict(os.environ, FUZZ_WORK=str(tmp_path))
    cmd = [sys.executable, os.path.join(FUZZ, "run.py"), name]
    if HAVE_ATHERIS:
        work = tmp_path / "corpus"
        work.mkdir()
        cmd += ["-runs=%d" % RUNS, "-seed=1", "-print_final_stats=1", str(work), os.path.join(FUZZ, "corpus", name)]
    else:
        cmd += ["--builtin", "--runs", str(RUNS), "--seed", "1"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env,
                       timeout=600)
    assert p.returncode == 0, p.stdout[-6000:]
    m = re.search(r"stat::number_of_executed_units: +(\d+)", p.stdout)
    assert m and int(m.group(1)) >= RUNS, p.stdout[-2000:]


def _replay(cmd, env=None):
    p = subprocess.run(cmd + [os.path.join(FUZZ, "replay_mpy.py"), "--lines"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env, timeout=900)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("= ")]
    return p, lines


def test_corpus_replay_cpython():
    p, lines = _replay([sys.executable])
    assert p.returncode == 0, p.stdout[-6000:]
    assert len(lines) == sum(len(_corpus_files(n)) for n in targets.NAMES)


def test_corpus_replay_micropython_agrees_with_cpython():
    """Every corpus file on MicroPython: the same invariant, and the same outcome (decoded or
    refused; the engine events and reasons) as on CPython, input by input."""
    mpy = _mpy()
    if mpy is None:
        pytest.skip("micropython command not found")
    env = dict(os.environ, MICROPYPATH=os.path.join(ROOT, "firmware"))
    p, lines = _replay([mpy, "-X", "heapsize=8M"], env)
    assert p.returncode == 0, p.stdout[-6000:]
    assert "micropython replay:" in p.stdout
    _, ref = _replay([sys.executable])
    assert len(lines) == len(ref)
    diff = [(a, b) for a, b in zip(lines, ref) if a != b]
    assert not diff, diff[:10]
