"""The daemons on real kernel links: `hostsim netns` both ways round, its clean-up, and the daemons' signals."""

import io
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAN_NETNS = sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("ip") is not None
needs_netns = pytest.mark.skipif(not CAN_NETNS, reason="network namespaces need root and iproute2 'ip'")
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")


def our_namespaces():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return {line.split()[0] for line in r.stdout.splitlines() if line.startswith("hk-")}


def hostsim(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "hostsim", "netns", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@needs_netns
@needs_tshark
def test_netns_both_ways_round_reactive():
    before = our_namespaces()
    t0 = time.monotonic()
    r = hostsim()
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    verdicts = [line for line in r.stdout.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 2 and all(v.startswith("PASS") for v in verdicts), r.stdout
    assert "routers on micropython, mobile node on cpython" in verdicts[0]
    assert "routers on cpython, mobile node on micropython" in verdicts[1]
    assert our_namespaces() == before
    assert took < 60


@needs_netns
@needs_tshark
def test_netns_predictive_one_way():
    before = our_namespaces()
    r = hostsim("--mode", "predictive", "--order", "mobile-micropython", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("PASS: routers on cpython, mobile node on micropython, predictive handover")
    assert our_namespaces() == before


@needs_netns
@needs_tshark
def test_a_failing_run_removes_everything(tmp_path):
    """A step that times out: FAIL, exit 1, and no namespace, process or work directory left."""
    from hostsim import cmd_netns

    class Args:
        mode, order, key_bits, at, keep, quiet = "reactive", "routers-micropython", 1024, 1, False, True
        timeout = 0.01  # no daemon can start that fast

    before = our_namespaces()
    out = io.StringIO()
    r = cmd_netns.run_once(Args, "micropython", "cpython", out)
    assert not r["ok"] and "daemon" in r["reason"]
    assert our_namespaces() == before
    assert not os.path.exists(r["workdir"])
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert r["workdir"] not in ps  # no daemon or dumpcap of that run is still alive


def test_skips_with_a_reason_when_namespaces_cannot_be_made(monkeypatch):
    from hostsim import cmd_netns

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    out = io.StringIO()
    assert cmd_netns.run(None, out) == 0
    assert out.getvalue() == "SKIP: network namespaces need root\n"


# -- the daemon's signals, in a namespace of its own --


@pytest.fixture
def veth_ns():
    ns = "hk-sig-%s" % os.urandom(3).hex()
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "hk0", "type", "veth", "peer", "name", "hk1"], check=True)
        for i in ("hk0", "hk1"):
            subprocess.run(["ip", "-n", ns, "link", "set", i, "up"], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def _start_router(ns, target, tmp_path):
    from hostsim import netns

    cfg = os.path.join(ROOT, "tests", "fixtures", "engine", "router_par.json")
    argv, env = netns.daemon_command(target, "router", ["hk0"], cfg, ["--control", str(tmp_path / "r.ctl")])
    log = open(tmp_path / "r.log", "w")
    p = subprocess.Popen(["ip", "netns", "exec", ns] + argv, stdout=log, stderr=subprocess.STDOUT,
                         env=dict(os.environ, **env), start_new_session=True)
    deadline = time.monotonic() + 30
    while "started" not in (tmp_path / "r.log").read_text() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.05)
    return p, log


@needs_netns
@pytest.mark.parametrize("target,sig,name", [
    ("cpython", signal.SIGTERM, "SIGTERM"),
    ("cpython", signal.SIGINT, "SIGINT"),
    ("micropython", signal.SIGINT, "SIGINT"),
])
def test_daemon_stops_cleanly_on_signals(veth_ns, tmp_path, target, sig, name):
    p, log = _start_router(veth_ns, target, tmp_path)
    try:
        from handoverkey.daemon import send_command

        code, reply = send_command(str(tmp_path / "r.ctl"), "status")
        assert code == 0 and reply.startswith("ok role=router") and "hk0=up" in reply
        os.killpg(p.pid, sig)
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()
    text = (tmp_path / "r.log").read_text()
    assert text.splitlines()[-1].endswith("stopped reason=" + name)
    assert not (tmp_path / "r.ctl").exists()  # the control socket is removed on the way out


@needs_netns
def test_micropython_daemon_sigterm_is_the_default_action(veth_ns, tmp_path):
    """Documented limit: no signal module on the MicroPython unix port, so SIGTERM ends it at once."""
    p, log = _start_router(veth_ns, "micropython", tmp_path)
    try:
        os.killpg(p.pid, signal.SIGTERM)
        assert p.wait(timeout=10) == -signal.SIGTERM
    finally:
        log.close()
    assert "stopped" not in (tmp_path / "r.log").read_text()
