"""The hostsim commands on bad input: one line on stderr, a non-zero exit, never a traceback;
files holding secrets are the owner's only, new or not."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def hostsim(*argv):
    return subprocess.run([sys.executable, "-m", "hostsim", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def one_line_error(r, status=2):
    assert r.returncode == status, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("hostsim")]
    assert len(errors) == 1, r.stderr
    return errors[0]


@pytest.mark.parametrize("argv,expect", [
    (("demo", "--quiet", "--mobile-config", "/nonexistent/mn.json"), "No such file"),
    (("demo", "--quiet", "--mobile-config", "/etc/passwd"), "not valid JSON"),
    (("demo", "--quiet", "--mobile-config", os.path.join(ROOT, "tests", "fixtures", "engine", "router_par.json")),
     "not a mobile node config"),
    (("demo", "--quiet", "--keylog", "/nonexistent/dir/k.log"), "cannot write"),
    (("board", "config", "--role", "mobile", "--cga-key", "/etc/passwd"), "cannot read a key"),
    (("board", "config", "--role", "mobile", "--cga-key", "/"), "cannot read a key"),
    (("board", "virtual", "--heapsize", "bogus"), "cannot start"),
    (("bench", "--rounds", "0"), "at least 1"),
])
def test_bad_input_is_one_line_and_no_traceback(argv, expect):
    assert expect in one_line_error(hostsim(*argv))


def test_a_reader_that_goes_away_is_not_an_error(tmp_path):
    """`hostsim inspect capture.pcap | head -1`: the rest of the output goes nowhere, quietly."""
    from hostsim.pcap import read_pcap, write_pcap

    stem = tmp_path / "d.pcap"
    assert hostsim("demo", "--quiet", "--pcap", str(stem)).returncode == 0
    _, frames = read_pcap(str(tmp_path / "d.par-link.pcap"))
    big = tmp_path / "big.pcap"
    write_pcap(str(big), frames * 300)  # far more text than a pipe holds
    p = subprocess.Popen([sys.executable, "-m", "hostsim", "inspect", str(big)], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and "Traceback" not in err, err


def test_secret_files_are_owner_only_even_when_they_existed(tmp_path):
    cfg, log = tmp_path / "par.json", tmp_path / "demo.keylog"
    for f in (cfg, log):
        f.write_text("")
        f.chmod(0o644)
    assert hostsim("board", "config", "--role", "router", "--out", str(cfg)).returncode == 0
    assert hostsim("demo", "--quiet", "--keylog", str(log)).returncode == 0
    for f in (cfg, log):
        assert f.stat().st_mode & 0o077 == 0, f
