"""`hostsim board`: board images, configs and the virtual board (boards/README.md).

  board virtual [--transport tcp|pty] [--dir DIR] [--heapsize 2M]
      the MicroPython unix REPL as a board for mpremote; prints its port, serves until Ctrl-C
  board config --role router|mobile [--name PAR|NAR] [--key-bits N] [--at N]
               [--cga-key FILE.pk8] [--hke-key FILE.pk8 ...] [--hke-generate N] [--out FILE]
      a device config (the JSON the engines and the daemon read) from the fixture world,
      optionally with the mobile node's own keys
  board package --image router|mobile|daemon|selftest [--image ...] --out DIR [--py] [--base URL]
      a directory to `mpremote mip install DIR/package.json` from: the images as .mpy
      (mpy-cross with hostsim/images.py MPY_CROSS_FLAGS), or with --py a package.json whose URLs
      point at the sources (under --base, e.g. github:OWNER/REPO/firmware)
  board manifests [--check]
      regenerate boards/manifests/*/{manifest.py,package.json} from import traces on the
      virtual board; --check exits 1 when the committed files are stale
"""

import json
import os
import stat
import sys
import time

IMAGES = ("router", "mobile", "daemon", "selftest")  # hostsim/boards.py IMAGES


def add_arguments(p):
    sub = p.add_subparsers(dest="board_command", metavar="SUBCOMMAND")
    v = sub.add_parser("virtual", help="the MicroPython unix REPL as a board for mpremote")
    v.add_argument("--transport", choices=("tcp", "pty"), default="tcp",
                   help="tcp: socket://127.0.0.1:PORT (default); pty: /dev/pts/N")
    v.add_argument("--tcp-port", type=int, default=0, help="TCP port (default: any free one)")
    v.add_argument("--dir", help="the board's filesystem (default: a temporary directory, removed at exit)")
    v.add_argument("--heapsize", default="2M", help="the interpreter's -X heapsize (default 2M)")

    c = sub.add_parser("config", help="a device config from the fixture world, optionally with your keys")
    c.add_argument("--role", choices=("router", "mobile"), required=True)
    c.add_argument("--name", choices=("PAR", "NAR"), default="PAR", help="router: which one (default PAR)")
    c.add_argument("--key-bits", type=int, choices=(1024, 2048), default=2048,
                   help="mobile: size of the fixture CGA and HKE keys (default 2048)")
    c.add_argument("--at", type=int, choices=(0, 1), default=1, help="mobile: the AT it asks for (default 1)")
    c.add_argument("--cga-key", help="mobile: your CGA key (DER PKCS#8); its CGAs are computed on the "
                                     "fixture world's prefixes")
    c.add_argument("--hke-key", action="append", default=[],
                   help="mobile: an HKE key (DER PKCS#8) for the pool, instead of the fixture ones (repeatable)")
    c.add_argument("--hke-generate", type=int, default=0, metavar="N",
                   help="mobile: generate N HKE keys on this host (the CGA key's size) for the pool")
    c.add_argument("--out", help="write here (default stdout); the file holds private keys: mode 0600")

    k = sub.add_parser("package", help="a directory to mpremote mip install from")
    k.add_argument("--image", action="append", choices=IMAGES, required=True,
                   help="image(s) to include (repeatable: --image router --image selftest)")
    k.add_argument("--out", required=True, help="output directory (DIR/package.json, DIR/handoverkey/)")
    k.add_argument("--py", action="store_true", help="no bytecode: a package.json pointing at the sources")
    k.add_argument("--base", help="URL prefix of the files in package.json (.mpy: where DIR is published; "
                                  "--py: where firmware/ is, e.g. github:OWNER/REPO/firmware)")

    m = sub.add_parser("manifests", help="regenerate boards/manifests from import traces")
    m.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")


def _log(s):
    print(s, file=sys.stderr)


def run_virtual(args):
    from .virtual_board import VirtualBoard

    from .virtual_board import VirtualBoardError

    vb = VirtualBoard(root=args.dir, transport=args.transport, heapsize=args.heapsize, tcp_port=args.tcp_port)
    try:
        vb.start()
    except (VirtualBoardError, OSError) as e:
        vb.close()  # removes the filesystem it made
        print("hostsim board virtual: cannot start: %s" % e, file=sys.stderr)
        return 2
    try:
        print("virtual board on %s (filesystem %s)" % (vb.port, vb.root))
        print("  mpremote connect %s ..." % vb.port)
        print("  python -m hostsim demo --target board --port %s" % vb.port)
        print("Ctrl-C stops it.")
        sys.stdout.flush()
        while vb.error is None:
            time.sleep(0.5)
        print("virtual board failed: %s" % vb.error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        vb.close()


def mobile_config_with(plan, cga_key=None, hke=None):
    """world.mobile_config, with another CGA key (new CGAs on the same prefixes) and/or HKE pool."""
    from handoverkey.send import cga_gen

    from . import world

    cfg = world.mobile_config(plan)
    if cga_key is not None:
        spki = cga_key.public.spki()
        for name, prefix in (("pcoa", world.PAR_PREFIX), ("ncoa", world.NAR_PREFIX), ("link_local", world.LINK_LOCAL_PREFIX)):
            address, params = cga_gen.cga_generate(spki, world.addr(prefix)[:8], sec=1)
            cfg[name] = address.hex()
            if name == "pcoa":
                cfg["pcoa_params"] = params.hex()
        cfg["cga_key"] = cga_key.pkcs8().hex()
    if hke is not None:
        cfg["hke_keys"] = [k.pkcs8().hex() for k in hke]
    return cfg


def run_config(args):
    from handoverkey.errors import HandoverKeyError

    from . import keys, world

    plan = world.Plan(key_bits=args.key_bits, at=args.at)
    if args.role == "router":
        if args.cga_key or args.hke_key or args.hke_generate:
            print("hostsim board config: --cga-key/--hke-* are for the mobile node", file=sys.stderr)
            return 2
        cfg = world.router_config(args.name, plan)
    else:
        try:
            cga_key = keys.load_private(args.cga_key) if args.cga_key else None
            loaded = [keys.load_private(p) for p in args.hke_key]
        except (OSError, HandoverKeyError) as e:
            why = e.strerror if isinstance(e, OSError) and e.strerror else getattr(e, "msg", None) or e
            print("hostsim board config: cannot read a key: %s (a DER PKCS#8 RSA key is wanted)" % why,
                  file=sys.stderr)
            return 2
        hke = None
        if args.hke_key or args.hke_generate:
            bits = (cga_key.bits if cga_key is not None else args.key_bits)
            hke = loaded
            for _ in range(args.hke_generate):
                hke.append(keys.generate(bits))
            for k in hke:
                if k.bits != bits:
                    print("hostsim board config: an HKE key has %d bits, the CGA key %d (RFC 5269 3.1: the same "
                          "size)" % (k.bits, bits), file=sys.stderr)
                    return 2
        cfg = mobile_config_with(plan, cga_key, hke)
    cfg = dict(cfg, role=args.role)
    text = json.dumps(cfg, indent=1, sort_keys=True) + "\n"
    if args.out:
        if os.path.dirname(args.out):
            os.makedirs(os.path.dirname(args.out), exist_ok=True)
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise; a device is left alone
        with os.fdopen(fd, "w") as f:
            f.write(text)
        _log("wrote %s (%s config; it holds private keys)" % (args.out, args.role))
    else:
        sys.stdout.write(text)
    return 0


def run_package(args):
    from . import boards

    names = []
    for n in args.image:
        if n not in names:
            names.append(n)
    path, n, size = boards.build_package(names, args.out, mpy=not args.py, base=args.base)
    print("wrote %s: %s, %d files, %d octets%s" % (
        path, "+".join(names), n, size, "" if args.py else " of bytecode"))
    print("install: mpremote mip install %s" % path)
    return 0


def run_manifests(args):
    from . import boards

    imgs = boards.compute_images(_log)
    stale = boards.write_manifests(imgs, check=args.check)
    for name in boards.IMAGES:
        print("%-8s %2d modules" % (name, len(imgs[name])))
    if args.check:
        for p in stale:
            print("stale: %s" % os.path.relpath(p, boards.ROOT))
        return 1 if stale else 0
    for p in stale:
        print("wrote %s" % os.path.relpath(p, boards.ROOT))
    return 0


def run(args):
    cmd = getattr(args, "board_command", None)
    if cmd == "virtual":
        return run_virtual(args)
    if cmd == "config":
        return run_config(args)
    if cmd == "package":
        return run_package(args)
    if cmd == "manifests":
        return run_manifests(args)
    print(__doc__)
    return 2
