"""boards/: the image manifests and package.json files agree with the firmware and each other,
the board manifests resolve, and the device configs of `hostsim board config` build engines.

The static checks run everywhere in milliseconds; the import-trace regeneration
(`hostsim board manifests --check`) needs the MicroPython unix port and takes a few seconds.
"""

import json
import os
import subprocess
import sys

import pytest

from hostsim import boards, cmd_board, images
from hostsim.targets import micropython_command

ROOT = boards.ROOT
IMGS = boards.committed_images()


def test_every_image_has_its_files():
    assert set(IMGS) == set(boards.IMAGES) == set(cmd_board.IMAGES)
    for name in boards.IMAGES:
        d = os.path.join(boards.MANIFESTS, name)
        assert os.path.isfile(os.path.join(d, "manifest.py")) and os.path.isfile(os.path.join(d, "package.json"))


@pytest.mark.parametrize("name", boards.IMAGES)
def test_manifest_and_package_json_agree(name):
    d = os.path.join(boards.MANIFESTS, name)
    meta, pkgs = boards.read_manifest(os.path.join(d, "manifest.py"))
    assert meta["version"] == boards.version() and meta["description"]
    assert len(pkgs) == 1
    pkg, files, base, opt = pkgs[0]
    assert pkg == "handoverkey" and opt == boards.opt_level(images.MPY_CROSS_FLAGS) == 3
    assert os.path.normpath(os.path.join(d, base)) == boards.FIRMWARE
    with open(os.path.join(d, "package.json")) as f:
        doc = json.load(f)
    assert doc["version"] == boards.version() and doc["deps"] == []
    # mpremote mip joins relative URLs to the package.json's directory: each must be a file of
    # the image, installed under the same path.
    targets = [t for t, _ in doc["urls"]]
    assert targets == ["handoverkey/" + f for f in files]
    for target, url in doc["urls"]:
        assert not url.startswith(("http:", "https:", "github:"))
        src = os.path.normpath(os.path.join(d, url))
        assert os.path.isfile(src) and os.path.relpath(src, boards.FIRMWARE).replace(os.sep, "/") == target


@pytest.mark.parametrize("name", boards.ROLES)
def test_role_images_are_closed_and_serve_their_lazy_imports(name):
    assert boards.check_image(name, IMGS[name]) == [], "regenerate: python -m hostsim board manifests"


@pytest.mark.parametrize("name", boards.ADDONS)
@pytest.mark.parametrize("role", boards.ROLES)
def test_addons_fit_both_role_images(name, role):
    assert boards.check_image(name, IMGS[name], IMGS[role]) == []


def test_what_each_image_leaves_out():
    host_only = set(images.HOST_ONLY)
    for name, mods in IMGS.items():
        assert not host_only & set(mods), name
        assert all(m == "handoverkey" or m.startswith("handoverkey.") for m in mods)
    router, mobile = set(IMGS["router"]), set(IMGS["mobile"])
    assert not router & {"handoverkey.mobile", "handoverkey.mobile_keys", "handoverkey.router_fast"}
    assert not mobile & {"handoverkey.router", "handoverkey.keytable", "handoverkey.router_fast"}
    assert {"handoverkey.router", "handoverkey.keytable", "handoverkey.keystore"} <= router
    assert {"handoverkey.mobile", "handoverkey.mobile_keys", "handoverkey.send.certpath"} <= mobile
    assert IMGS["daemon"] == ["handoverkey.daemon"] and IMGS["selftest"] == ["handoverkey.selftest"]


def test_a_new_import_is_caught():
    """The check itself: an image without a module its members import is reported."""
    broken = [m for m in IMGS["router"] if m != "handoverkey.wire.ndopt"]
    problems = boards.check_image("router", broken)
    assert any("handoverkey.wire.ndopt" in p for p in problems)
    assert boards.check_image("router", IMGS["router"] + ["handoverkey.router_fast"])


def _evaluate_board_manifest(path):
    """Run a board manifest with stand-ins for the manifest commands it uses: include() of a
    build-tree path ($(...)) is recorded, add_library/require must find our image manifests."""
    libs = {}
    required = []
    here = os.path.dirname(path)

    def include(p, **kw):
        assert p.startswith("$(") and p.endswith("manifest.py"), p

    def add_library(name, p, prepend=False):
        libs[name] = os.path.normpath(os.path.join(here, p))

    def require(name, library=None, **kw):
        assert library in libs, "require(%r) before add_library(%r)" % (name, library)
        assert os.path.isfile(os.path.join(libs[library], name, "manifest.py")), name
        required.append(name)

    def metadata(**kw):
        raise AssertionError("a board manifest has no metadata(): it would clash with the images'")

    with open(path) as f:
        exec(compile(f.read(), path, "exec"), {"include": include, "add_library": add_library,
                                                "require": require, "metadata": metadata})
    return required


def test_board_manifests_require_the_right_images():
    assert _evaluate_board_manifest(os.path.join(ROOT, "boards", "openwrt-router", "manifest.py")) == [
        "router", "daemon", "selftest"]
    assert _evaluate_board_manifest(os.path.join(ROOT, "boards", "rp2-pico-w-mobile", "manifest.py")) == [
        "mobile", "selftest"]


def test_board_config_builds_the_engines(tmp_path):
    from handoverkey.config import build_engine

    for role, extra in (("router", ["--name", "NAR"]), ("mobile", ["--key-bits", "1024", "--hke-generate", "1"])):
        out = tmp_path / (role + ".json")
        r = subprocess.run([sys.executable, "-m", "hostsim", "board", "config", "--role", role, *extra,
                            "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert (os.stat(out).st_mode & 0o777) == 0o600  # it holds private keys
        cfg = json.loads(out.read_text())
        assert cfg.pop("role") == role
        build_engine(role, cfg)
        if role == "mobile":
            assert len(cfg["hke_keys"]) == 1


def test_selftest_passes_on_cpython(tmp_path):
    import io

    from handoverkey import selftest

    out = io.StringIO()
    assert selftest.run(None, out) is True
    assert out.getvalue().splitlines()[-1].startswith("PASS handoverkey selftest: 6/6")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"role": "router", "key": "00"}))
    out = io.StringIO()
    assert selftest.run(str(bad), out) is False
    assert "FAIL config" in out.getvalue() and out.getvalue().splitlines()[-1].startswith("FAIL handoverkey selftest")


@pytest.mark.skipif(micropython_command() is None, reason="the micropython command is not installed")
def test_manifests_are_current_with_the_import_traces():
    r = subprocess.run([sys.executable, "-m", "hostsim", "board", "manifests", "--check"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "stale: run `python -m hostsim board manifests`\n" + r.stdout + r.stderr
