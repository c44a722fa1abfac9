"""`hostsim demo`: one whole handover, printed as a message sequence with each side's checks."""

import json
import sys

from .describe import describe, short
from .keylog import KeyLogWriter
from .pcap import write_pcap
from .world import Plan, World

TARGETS = ("cpython", "micropython", "board")

# Events worth a line in the sequence, and how to say them.
_SAY = {
    "cps-sent": lambda f: "sends CPS: which certification path leads to my trust anchor?",
    "cpa-sent": lambda f: "answers with %d certificate(s)" % f["components"],
    "path-validated": lambda f: "certification path valid to the trust anchor; router key %s is certified" % f["key_hash"][:16],
    "path-rejected": lambda f: "certification path REJECTED (%s)" % f["reason"],
    "rtsolpr-sent": lambda f: "sends RtSolPr with Handover Key Request (AT %d), CGA, Timestamp, Nonce, signed" % f["at"],
    "rtsolpr-rejected": lambda f: "RtSolPr failed SEND checks (%s): answered without a key" % f["reason"],
    "key-provisioned": lambda f: "SEND checks passed (CGA, Key Hash, signature, timestamp, nonce); %s handover key for %s, AT %d, %d s" % (
        "reused the" if f["reused"] else "created a", short(bytes.fromhex(f["mn"])), f["at"], f["lifetime"]),
    "prrtadv-rejected": lambda f: "PrRtAdv dropped (%s)" % f["reason"],
    "key-stored": lambda f: "PrRtAdv verified (certified router key, nonce matched); handover key decrypted and stored, AT %d" % f["at"],
    "fbu-sent": lambda f: "sends %s FBU seq %d with BADF (AT %d)" % (f["mode"], f["seq"], f["at"]),
    "fbu-accepted": lambda f: "BADF verified with the key of PCoA %s: forwarding to %s for %d s" % (
        short(bytes.fromhex(f["pcoa"])), short(bytes.fromhex(f["ncoa"])), f["lifetime"]),
    "fbu-rejected": lambda f: "FBU REJECTED (%s): forwarding unchanged" % f["reason"],
    "fback-accepted": lambda f: "FBack verified (BADF), status %d: handover done" % f["status"],
    "fback-rejected": lambda f: "FBack dropped (%s)" % f["reason"],
    "dropped": lambda f: "dropped a frame (%s)" % f["reason"],
}


def write_captures(path, capture, wall_start):
    """Every frame of every link to `path`, and each link's own frames to `<path stem>.<link>.pcap`."""
    write_pcap(path, [(wall_start + t / 1000.0, f) for t, _, f in capture])
    stem = path[:-5] if path.endswith(".pcap") else path
    for link in sorted(set(l for _, l, _ in capture)):
        write_pcap("%s.%s.pcap" % (stem, link), [(wall_start + t / 1000.0, f) for t, l, f in capture if l == link])


def add_arguments(p):
    p.add_argument("--target", choices=TARGETS, default="cpython",
                   help="where the engines run (default cpython); board: the --board-role engines on the board "
                        "at --port, the others on CPython")
    p.add_argument("--router-target", choices=TARGETS, help="override --target for the routers")
    p.add_argument("--mobile-target", choices=TARGETS, help="override --target for the mobile node")
    p.add_argument("--port", help="the board for target board, as mpremote connect takes it: /dev/ttyACM0, "
                                  "/dev/pts/N, socket://HOST:PORT (boards/README.md)")
    p.add_argument("--board-role", choices=("router", "mobile"), default="router",
                   help="with --target board: which role runs on the board (default router: PAR and NAR)")
    p.add_argument("--mobile-config", metavar="FILE.json",
                   help="the mobile node's config instead of the fixture one, e.g. from `hostsim board config "
                        "--role mobile --hke-generate N` (its own keys; the world's prefixes and trust anchor)")
    p.add_argument("--key-bits", type=int, choices=(1024, 2048), default=2048, help="mobile node key size")
    p.add_argument("--at", type=int, choices=(0, 1), default=1, help="the AT the mobile node asks for")
    p.add_argument("--mode", choices=("predictive", "reactive"), default="predictive")
    p.add_argument("--pcap", help="write every frame of every link to this pcap (raw IPv6), and each link's "
                                  "frames to <stem>.<link>.pcap beside it")
    p.add_argument("--keylog", help="write the key log (secret keys! lab use only) to this file")
    p.add_argument("--quiet", action="store_true", help="print only the verdict")


def targets_of(args):
    """(router target, mobile target): --target board puts only the --board-role engines on the board."""
    router = mobile = args.target
    if args.target == "board":
        board_role = getattr(args, "board_role", "router")
        router = "board" if board_role == "router" else "cpython"
        mobile = "board" if board_role == "mobile" else "cpython"
    return args.router_target or router, args.mobile_target or mobile


def run_demo(args, out=sys.stdout):
    router_target, mobile_target = targets_of(args)
    port = getattr(args, "port", None)
    if "board" in (router_target, mobile_target) and not port:
        print("hostsim demo: the board target needs --port (e.g. /dev/ttyACM0 or socket://127.0.0.1:PORT)",
              file=sys.stderr)
        return 2
    mobile_cfg = None
    key_bits = args.key_bits
    at = args.at
    if getattr(args, "mobile_config", None):
        from handoverkey.crypto.rsakey import RsaPrivateKey
        from handoverkey.errors import HandoverKeyError

        try:
            with open(args.mobile_config) as f:
                mobile_cfg = json.load(f)
            if not isinstance(mobile_cfg, dict) or mobile_cfg.get("role", "mobile") != "mobile" or "cga_key" not in mobile_cfg:
                raise ValueError("not a mobile node config (hostsim board config --role mobile writes one)")
            key_bits = RsaPrivateKey.from_pkcs8(bytes.fromhex(mobile_cfg["cga_key"])).bits
        except (OSError, ValueError, TypeError, HandoverKeyError) as e:
            if isinstance(e, json.JSONDecodeError):
                why = "not valid JSON"
            else:
                why = e.strerror if isinstance(e, OSError) and e.strerror else getattr(e, "msg", None) or e
            print("hostsim demo: cannot use --mobile-config %s: %s" % (args.mobile_config, why), file=sys.stderr)
            return 2
        mobile_cfg["keylog"] = bool(args.keylog)
        at = mobile_cfg.get("preferred_at", at)
    plan = Plan(
        key_bits=key_bits, at=at, mode=args.mode,
        router_target=router_target, mobile_target=mobile_target,
        keylog=bool(args.keylog), board_port=port, mobile_cfg=mobile_cfg,
    )
    if args.keylog:
        print("warning: writing secret keys to %s (for test and lab networks only)" % args.keylog, file=sys.stderr)
    with World(plan) as w:
        attached = w.attach()
        accepted = w.handover() if attached else False
        done = w.has_event("MN", "fback-accepted")
        if args.pcap:
            try:
                write_captures(args.pcap, w.net.capture, plan.wall_start)
            except OSError as e:
                print("hostsim demo: cannot write %s: %s" % (args.pcap, e.strerror or e), file=sys.stderr)
                return 2
        if args.keylog:
            try:
                log = KeyLogWriter(args.keylog)
                for line in w.keylog_lines():
                    log(line)
                log.close()
            except OSError as e:
                print("hostsim demo: cannot write %s: %s" % (args.keylog, e.strerror or e), file=sys.stderr)
                return 2
        if not args.quiet:
            print_sequence(w, plan, out)
    verdict = "PASS" if accepted and done else "FAIL"
    print("%s: %s handover, AT %d, %d-bit keys, routers on %s, mobile node on %s: PAR %s the FBU" % (
        verdict, plan.mode, plan.at, plan.key_bits, plan.router_target, plan.mobile_target,
        "accepted" if accepted else "did NOT accept"), file=out)
    return 0 if accepted and done else 1


def print_sequence(w, plan, out):
    names = {}
    for n in w.net.nodes.values():
        for a in n.addresses:
            names[short(a)] = n.name
    names.update({"ff02::2": "all-routers", "ff02::1": "all-nodes"})
    rows = []
    for t, link, frame in w.net.capture:
        src, dst, text = describe(frame)
        dst_name = names.get(dst, "solicited-node" if dst.startswith("ff02::1:ff") else dst)
        rows.append((t, 0, "%-4s -> %-14s %s  (on %s)" % (names.get(src, src), dst_name, text, link)))
    for n in w.net.nodes.values():
        for t, kind, fields in n.events:
            say = _SAY.get(kind)
            if say:
                rows.append((t, 1, "     %-4s %s" % (n.name + ":", say(fields))))
    rows.sort(key=lambda r: (r[0], r[1]))
    print("handoverkey demo: RFC 5269 handover key over SEND, then a %s FMIPv6 handover" % plan.mode, file=out)
    print("%8s  %s" % ("t(ms)", "message / check"), file=out)
    for t, _, text in rows:
        print("%8d  %s" % (t, text), file=out)


def run(args):
    from .targets import EngineProcessError

    try:
        return run_demo(args)
    except EngineProcessError as e:  # a board or interpreter that cannot run the engine: one line
        print("hostsim demo: %s" % e, file=sys.stderr)
        return 1
