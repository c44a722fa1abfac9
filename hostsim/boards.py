"""Board images: which firmware modules each image holds, and the files that ship them.

A role image (router, mobile) is the closure, under module-level imports, of
  - the modules the role really loaded: its engines run whole handovers (as `hostsim demo
    --target board`) on the virtual board with the full firmware tree, and sys.modules on the
    board is read afterwards (import tracing: lazy imports included, CPython-only ones not);
  - the role's EXTRAS: modules a handover does not load but a device needs (the router's
    sealed key store).
An add-on (daemon, selftest) is its EXTRAS and whatever they import that is not in both role
images (nothing, today). Every import inside a function of an image module must then name a
module of the image (or, for an add-on, of the role image under it), a HOST_ONLY module
(hostsim/images.py: never on a board) or one of the image's NOT_FOR modules (the other role's,
reached only through config.build_engine's other branch).

From the images this writes, under boards/manifests/<image>/:
  manifest.py   MicroPython's manifest language: metadata() and one package() with the files,
                opt=3 (the -O level of images.MPY_CROSS_FLAGS: at level 3 mpy-cross emits no
                line-number table, which is what -X no-source-lines says too);
  package.json  for mip ("urls" relative to the package.json, into ../../../firmware; "version").
`python -m hostsim board manifests` regenerates them, `--check` fails when they are stale.
"""

import ast
import json
import os
import shutil
import tempfile

from . import images

ROOT = images.ROOT
FIRMWARE = images.FIRMWARE
MANIFESTS = os.path.join(ROOT, "boards", "manifests")
PACKAGE = images.PACKAGE

#: The images: one per role, and add-ons that go onto either. "daemon" is for Linux (packet
#: sockets exist only on the MicroPython unix port, e.g. OpenWrt); "selftest" is the boot
#: check (4 KB of bytecode, so a board that cannot spare it leaves it out).
ROLES = ("router", "mobile")
ADDONS = ("daemon", "selftest")
IMAGES = ROLES + ADDONS

DESCRIPTIONS = {
    "router": "handoverkey router image: the RFC 5269 access router engine (SEND, FMIPv6 handover keys) "
              "and its sealed key store",
    "mobile": "handoverkey mobile node image: the RFC 5269 mobile node engine (SEND, FMIPv6 handover keys)",
    "daemon": "handoverkey daemon: the engines on Linux interfaces through packet sockets (MicroPython unix "
              "port); add to the router or mobile image",
    "selftest": "handoverkey self-test: hashes, os.urandom, RSA, wire codecs and a config's keys, checked on "
                "the device; add to the router or mobile image",
}

#: Modules an image needs that a traced handover does not load.
EXTRAS = {
    "router": ("handoverkey.keystore",),  # Router.checkpoint/restore
    # MobileNode._hke_key makes a new HKE key pair once the configured ones are used up.
    "mobile": ("handoverkey.crypto.keygen",),
    "daemon": ("handoverkey.daemon",),
    "selftest": ("handoverkey.selftest",),
}

#: Modules an image may leave out although a function in it can import them: the other role's.
NOT_FOR = {
    "router": ("handoverkey.mobile", "handoverkey.mobile_keys", "handoverkey.send.certpath",
               "handoverkey.config_mobile",
               "handoverkey.crypto.keygen"),  # a router never makes keys
    "mobile": ("handoverkey.router", "handoverkey.keytable", "handoverkey.keystore", "handoverkey.ratelimit",
               "handoverkey.config_router",
               "handoverkey.crypto.aes"),  # AES-CBC serves the router's key store only
    "daemon": (),
    # On a mobile image the self-test skips AES; it reads the key list of its own role's config.
    "selftest": ("handoverkey.crypto.aes", "handoverkey.config_router", "handoverkey.config_mobile"),
}


class ImageError(RuntimeError):
    pass


# ---- static import analysis ----


def _parents(mod):
    parts = mod.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(mod, is_pkg, level, name):
    if level == 0:
        return name
    base = mod.split(".")
    if not is_pkg:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def imports_of(mod, known=None):
    """(module-level imports, imports inside functions) of a firmware module, as firmware module names."""
    known = known if known is not None else images.firmware_modules()
    src = known[mod]
    is_pkg = src.endswith("__init__.py")
    with open(src) as f:
        tree = ast.parse(f.read(), src)
    top, lazy = set(), set()

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            targets = []
            if isinstance(child, ast.Import):
                targets = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(mod, is_pkg, child.level, child.module)
                targets = [base] + [base + "." + a.name for a in child.names]
            for t in targets:
                for m in _parents(t) + [t]:
                    if m in known and m != mod:
                        (lazy if in_function else top).add(m)
            visit(child, inner)

    visit(tree, False)
    return top, lazy - top


def closure(mods, known=None):
    """mods, their parent packages and everything they import at module level, transitively."""
    known = known if known is not None else images.firmware_modules()
    out = set()
    todo = list(mods)
    while todo:
        m = todo.pop()
        if m in out:
            continue
        if m not in known:
            raise ImageError("not a firmware module: %s" % m)
        out.add(m)
        todo.extend(_parents(m))
        todo.extend(imports_of(m, known)[0])
    return out


def check_image(name, mods, base=(), known=None):
    """Problems with an image's module list (empty when none): not closed under module-level
    imports, a host-only or other-role module inside, a function-level import left unserved.
    `base`: modules of the image this one is added to (the daemon goes onto a role image)."""
    known = known if known is not None else images.firmware_modules()
    have = set(mods) | set(base)
    problems = []
    for m in sorted(closure(mods, known) - have):
        problems.append("%s: %s is imported at module level but not in the image" % (name, m))
    for m in sorted(set(mods) & (set(images.HOST_ONLY) | set(NOT_FOR.get(name, ())))):
        problems.append("%s: %s must not be in this image" % (name, m))
    allowed = have | set(images.HOST_ONLY) | set(NOT_FOR.get(name, ()))
    for m in sorted(mods):
        for t in sorted(imports_of(m, known)[1] - allowed):
            problems.append("%s: %s imports %s inside a function, and it is not in the image" % (name, m, t))
    return problems


# ---- tracing on the virtual board ----


def trace(role, log=lambda s: None):
    """The handoverkey modules a role's engines load through whole handovers, on the MicroPython
    unix port behind the virtual board with the full firmware tree as its /lib."""
    from .targets import BoardSession
    from .virtual_board import VirtualBoard
    from .world import Plan, World

    seen = set()
    with VirtualBoard(transport="pty") as vb:
        os.symlink(os.path.join(FIRMWARE, PACKAGE), os.path.join(vb.root, "lib", PACKAGE))
        for key_bits, at, mode in ((2048, 1, "predictive"), (1024, 0, "reactive")):
            plan = Plan(key_bits=key_bits, at=at, mode=mode, board_port=vb.port,
                        router_target="board" if role == "router" else "cpython",
                        mobile_target="board" if role == "mobile" else "cpython")
            with World(plan) as w:
                if not (w.attach() and w.handover()):
                    raise ImageError("%s trace: the %s handover failed on the virtual board" % (role, mode))
                out = BoardSession._open[vb.port].exec(
                    "import sys\nprint(' '.join(k for k in sys.modules if k == %r or k.startswith(%r)))"
                    % (PACKAGE, PACKAGE + "."))
            mods = set(out.split())
            log("  %s, %d-bit, AT %d: %d modules" % (mode, key_bits, at, len(mods)))
            seen |= mods
    return seen


def compute_images(log=lambda s: None):
    """{image name: sorted module list}, from traces and EXTRAS; raises ImageError on a problem."""
    known = images.firmware_modules()
    out = {}
    for role in ROLES:
        log("%s: tracing a handover on the virtual board" % role)
        mods = closure(trace(role, log) | set(EXTRAS[role]), known)
        out[role] = sorted(mods)
    # An add-on: its own modules only; what it imports must be in both role images.
    both = set(out["router"]) & set(out["mobile"])
    for name in ADDONS:
        out[name] = sorted((closure(EXTRAS[name], known) - both) | set(EXTRAS[name]))
    problems = check_image("router", out["router"], (), known) + check_image("mobile", out["mobile"], (), known)
    for name in ADDONS:
        for role in ROLES:
            problems += check_image(name, out[name], out[role], known)
    if problems:
        raise ImageError("\n".join(problems))
    return out


# ---- the files ----


def package_files(mods, known=None):
    """The files of modules, relative to the firmware directory (handoverkey/wire/mh.py)."""
    known = known if known is not None else images.firmware_modules()
    return sorted(os.path.relpath(known[m], FIRMWARE).replace(os.sep, "/") for m in mods)


def version():
    with open(os.path.join(FIRMWARE, PACKAGE, "__init__.py")) as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=", 1)[1].strip().strip("\"'")
    raise ImageError("no __version__ in handoverkey/__init__.py")


def opt_level(flags=images.MPY_CROSS_FLAGS):
    for f in flags:
        if f.startswith("-O"):
            return int(f[2:] or 1)
    return 0


def _q(text):
    """A Python string literal in double quotes (ASCII text)."""
    return json.dumps(text)


def manifest_text(name, mods):
    files = [f[len(PACKAGE) + 1:] for f in package_files(mods)]
    lines = [
        "# %s." % DESCRIPTIONS[name],
        "#",
        "# Generated by `python -m hostsim board manifests` (hostsim/boards.py) from import traces;",
        "# tests/host/test_boards.py checks it against the firmware. Do not edit by hand.",
        "# To freeze it, a board manifest adds this directory as a library and require()s it",
        "# (boards/README.md). opt=%d is the -O level of MPY_CROSS_FLAGS in hostsim/images.py." % opt_level(),
        "",
        "metadata(",
        "    description=%s," % _q(DESCRIPTIONS[name]),
        "    version=%s," % _q(version()),
        ")",
        "",
        "package(",
        "    %s," % _q(PACKAGE),
        "    files=(",
    ]
    lines += ["        %s," % _q(f) for f in files]
    lines += [
        "    ),",
        "    base_path=%s," % _q("../../../firmware"),
        "    opt=%d," % opt_level(),
        ")",
        "",
    ]
    return "\n".join(lines)


def _package_json(urls):
    body = ",\n".join("  [%s, %s]" % (_q(a), _q(b)) for a, b in urls)
    return '{\n "urls": [\n%s\n ],\n "deps": [],\n "version": %s\n}\n' % (body, _q(version()))


def package_json_text(mods, base="../../../firmware"):
    """mip's package.json: every file of the image, its URL relative to the package.json (or
    under `base` when that is absolute: github:OWNER/REPO/firmware, https://...)."""
    return _package_json([(f, base.rstrip("/") + "/" + f) for f in package_files(mods)])


def read_manifest(path):
    """(metadata kwargs, [(package, files, base_path, opt)]) of a manifest.py of ours, by running
    it with stand-ins for metadata() and package() (the only commands these files use)."""
    meta = {}
    pkgs = []

    def metadata(**kw):
        if meta:
            raise ImageError("%s: metadata() twice" % path)
        meta.update(kw)

    def package(name, files=None, base_path=".", opt=None):
        pkgs.append((name, tuple(files or ()), base_path, opt))

    with open(path) as f:
        exec(compile(f.read(), path, "exec"), {"metadata": metadata, "package": package})
    return meta, pkgs


def write_manifests(imgs, check=False):
    """Write (or with check, compare) boards/manifests/*/{manifest.py,package.json}; return the stale paths."""
    stale = []
    for name in IMAGES:
        d = os.path.join(MANIFESTS, name)
        for fname, text in (("manifest.py", manifest_text(name, imgs[name])),
                            ("package.json", package_json_text(imgs[name]))):
            path = os.path.join(d, fname)
            try:
                with open(path) as f:
                    old = f.read()
            except OSError:
                old = None
            if old == text:
                continue
            stale.append(path)
            if not check:
                os.makedirs(d, exist_ok=True)
                with open(path, "w") as f:
                    f.write(text)
    return stale


def committed_images():
    """{image name: module list} as boards/manifests/*/manifest.py says."""
    known_files = {os.path.relpath(p, FIRMWARE).replace(os.sep, "/"): m for m, p in images.firmware_modules().items()}
    out = {}
    for name in IMAGES:
        _, pkgs = read_manifest(os.path.join(MANIFESTS, name, "manifest.py"))
        mods = []
        for pkg, files, _base, _opt in pkgs:
            for f in files:
                rel = pkg + "/" + f
                if rel not in known_files:
                    raise ImageError("%s manifest names %s, which is not a firmware file" % (name, rel))
                mods.append(known_files[rel])
        out[name] = sorted(mods)
    return out


# ---- an installable bytecode package ----


def build_package(names, out_dir, mpy=True, base=None):
    """A directory to `mpremote mip install OUT/package.json` from: the images `names` (e.g.
    router + daemon) as .mpy compiled with images.MPY_CROSS_FLAGS, or with mpy=False only a
    package.json whose URLs point under `base` (github:OWNER/REPO/firmware, or the checkout's
    firmware directory). Returns (package.json path, number of files, octets of code)."""
    imgs = committed_images()
    mods = sorted(set(m for n in names for m in imgs[n]))
    os.makedirs(out_dir, exist_ok=True)
    if not mpy:
        if base is None:
            base = os.path.relpath(FIRMWARE, out_dir).replace(os.sep, "/")
        text = package_json_text(mods, base)
        total = sum(os.path.getsize(os.path.join(FIRMWARE, f)) for f in package_files(mods))
        n = len(mods)
    else:
        tmp = tempfile.mkdtemp(prefix="hk-mpy-")
        try:
            images.compile_all(os.path.join(tmp, "all"))
            images.build_image(mods, os.path.join(tmp, "all"), os.path.join(tmp, "image"))
            pkg_dir = os.path.join(out_dir, PACKAGE)
            if os.path.exists(pkg_dir):
                shutil.rmtree(pkg_dir)
            shutil.copytree(os.path.join(tmp, "image", PACKAGE), pkg_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        known = images.firmware_modules()
        files = sorted(images.mpy_relpath(m, known[m]).replace(os.sep, "/") for m in mods)
        prefix = (base.rstrip("/") + "/") if base else ""
        text = _package_json([(f, prefix + f) for f in files])
        total = sum(os.path.getsize(os.path.join(out_dir, f)) for f in files)
        n = len(files)
    path = os.path.join(out_dir, "package.json")
    with open(path, "w") as f:
        f.write(text)
    return path, n, total
