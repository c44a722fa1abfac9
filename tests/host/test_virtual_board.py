"""mpremote deployment, for real, against the virtual board (the MicroPython unix REPL behind a
pty or a TCP socket; hostsim/virtual_board.py).

The deploy blocks of boards/README.md ("# deploy: router") and boards/rp2-pico-w-mobile/
README.md ("# deploy: mobile") run as written, with only $PORT and build/ replaced: mpremote
mip install of the image, the device config copied with mpremote cp, the on-board self-test,
then `hostsim demo --target board` with that role on the board. Afterwards the board's /lib
must hold exactly its image, so the passing demo proves the image complete. Skipped, with the
reason, where the MicroPython unix port, mpremote or ptys are missing.
"""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
MPREMOTE = os.path.join(BIN, "mpremote")


def _skip_reason():
    from hostsim.targets import micropython_command

    if micropython_command() is None:
        return "the micropython command (MicroPython unix port) is not installed"
    if not os.path.exists(MPREMOTE):
        return "mpremote is not installed next to this Python"
    if shutil.which("bash") is None:
        return "bash is not installed (the README blocks are shell)"
    try:
        import pty

        m, s = pty.openpty()
        os.close(m)
        os.close(s)
    except OSError as e:
        return "no pty: %s" % e
    return None


_REASON = _skip_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=_REASON or "")


def readme_block(path, name):
    """The ```sh block of a README that starts with `# deploy: NAME`."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    m = re.search(r"```sh\n# deploy: %s\n(.*?)```" % re.escape(name), text, re.S)
    assert m, "no '# deploy: %s' block in %s" % (name, path)
    return m.group(1)


def run_block(block, port, build):
    """Run a README block with bash -e, PORT set to the virtual board, build/ in a temp dir."""
    lines = []
    for line in block.splitlines():
        if line.startswith("PORT="):
            line = "PORT=%s" % port
        lines.append(line.replace("build/", build.rstrip("/") + "/"))
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    script = "set -e\n" + "\n".join(lines) + "\n"
    r = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, "block failed (%d):\n%s\n--- stdout\n%s\n--- stderr\n%s" % (
        r.returncode, script, r.stdout[-4000:], r.stderr[-4000:])
    return r.stdout


def board_files(root):
    out = set()
    base = os.path.join(root, "lib")
    for dirpath, _dirs, files in os.walk(base):
        for f in files:
            out.add(os.path.relpath(os.path.join(dirpath, f), base).replace(os.sep, "/"))
    return out


def image_files(*names, ext=".py"):
    from hostsim import boards

    imgs = boards.committed_images()
    files = set()
    for n in names:
        for f in boards.package_files(imgs[n]):
            files.add(f[:-3] + ext)
    return files


def demo(*args):
    return subprocess.run([sys.executable, "-m", "hostsim", "demo", "--quiet", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)


def test_raw_repl_filesystem_and_soft_reset(tmp_path):
    """What mpremote relies on: raw REPL, raw-paste, a board-like filesystem, soft reset, Ctrl-C."""
    from mpremote.transport_serial import SerialTransport

    from hostsim.virtual_board import VirtualBoard

    with VirtualBoard(root=str(tmp_path), transport="pty", heapsize="512K") as vb:
        t = SerialTransport(vb.port, baudrate=115200, timeout=5)  # a hung board fails, not hangs
        try:
            t.enter_raw_repl(soft_reset=True)
            assert vb.resets == 1
            t.exec("import sys, os")
            assert t.eval("sys.path") == ["", ".frozen", "/lib"]
            assert t.eval("os.getcwd()") == "/"
            t.fs_writefile("/lib/hello.py", b"X = 42\n")
            assert (tmp_path / "lib" / "hello.py").read_bytes() == b"X = 42\n"
            assert t.exec("import hello; print(hello.X)").strip() == b"42"
            t.exec("keep = 1")
            # Soft reset: a fresh interpreter (nothing imported, no globals), the files kept.
            t.enter_raw_repl(soft_reset=True)
            assert vb.resets == 2
            assert t.eval("'keep' in globals()") is False
            assert t.exec("import hello; print(hello.X)").strip() == b"42"
            # Ctrl-C interrupts a running program, as on a board.
            t.exec_raw_no_follow("while True: pass")
            # The bridge turns Ctrl-C into SIGINT only once the program runs (a loaded machine
            # may take a while to get there): wait for that, as a person would see it run.
            deadline = time.monotonic() + 20
            while not vb._interp.running_code() and time.monotonic() < deadline:
                time.sleep(0.01)
            t.serial.write(b"\x03")
            out, err = t.follow(timeout=10)
            assert b"KeyboardInterrupt" in err
            assert t.exec("print(6 * 7)").strip() == b"42"
        finally:
            t.close()
    assert vb.error is None


def test_deploy_router_as_the_readme_says(tmp_path):
    from hostsim.virtual_board import VirtualBoard

    build = str(tmp_path / "build")
    with VirtualBoard(root=str(tmp_path / "board"), transport="pty") as vb:
        out = run_block(readme_block("boards/README.md", "router"), vb.port, build)
        assert re.search(r"^PASS handoverkey selftest: 7/7 checks passed \(micropython ", out, re.M), out
        assert "ok config (router, 1 key(s))" in out
        assert re.search(r"^PASS: predictive handover.*routers on board, mobile node on cpython: PAR accepted the FBU",
                         out, re.M), out
        # Exactly the router image and the self-test on the board: the demo ran from them alone.
        assert board_files(vb.root) == image_files("router", "selftest")
        assert not {"handoverkey/mobile.py", "handoverkey/mobile_keys.py", "handoverkey/router_fast.py",
                    "handoverkey/agent.py", "handoverkey/crypto/host.py"} & board_files(vb.root)

        # The board holds the router image: asking it for the mobile node fails in one line.
        r = demo("--target", "board", "--board-role", "mobile", "--port", vb.port)
        assert r.returncode == 1 and "is the mobile image on the board?" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr

        # The OpenWrt router's add-on: the daemon loads from router + daemon images and reads
        # the config that was copied to the board.
        subprocess.run([MPREMOTE, "connect", vb.port, "mip", "install", "boards/manifests/daemon/package.json"],
                       cwd=ROOT, check=True, capture_output=True, timeout=60)
        r = subprocess.run([MPREMOTE, "connect", vb.port, "exec",
                            "from handoverkey import daemon; "
                            "cfg, s = daemon.load_config('hk.json', 'router', {'interfaces': ['eth0']}); "
                            "daemon.build('router', cfg); print('daemon config ok', s['interfaces'])"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "daemon config ok" in r.stdout, (r.stdout, r.stderr)
    assert vb.error is None


def test_deploy_mobile_bytecode_as_the_pico_readme_says(tmp_path):
    from hostsim.virtual_board import VirtualBoard

    build = str(tmp_path / "build")
    # A smaller heap than the default: the mobile image from bytecode passes at 256K (measured).
    with VirtualBoard(root=str(tmp_path / "board"), transport="pty", heapsize="512K") as vb:
        out = run_block(readme_block("boards/rp2-pico-w-mobile/README.md", "mobile"), vb.port, build)
        assert re.search(r"^ok aes \(not in this image\)", out, re.M), out
        assert re.search(r"^ok config \(mobile, 3 key\(s\)\)", out, re.M), out  # CGA key + 2 HKE keys
        assert re.search(r"^PASS handoverkey selftest: 7/7 checks passed", out, re.M), out
        assert re.search(r"^PASS: predictive handover, AT 1, 1024-bit keys, routers on cpython, mobile node on board: "
                         r"PAR accepted the FBU", out, re.M), out
        assert board_files(vb.root) == image_files("mobile", "selftest", ext=".mpy")
        assert not {"handoverkey/router.mpy", "handoverkey/keytable.mpy", "handoverkey/router_fast.mpy"} & \
            board_files(vb.root)
    assert vb.error is None


def test_board_target_over_tcp_both_roles(tmp_path):
    """The socket:// transport, with the full firmware tree as the board's /lib (no deploy cost)."""
    from hostsim.virtual_board import VirtualBoard

    with VirtualBoard(root=str(tmp_path), transport="tcp") as vb:
        assert vb.port.startswith("socket://127.0.0.1:")
        os.symlink(os.path.join(ROOT, "firmware", "handoverkey"), os.path.join(vb.root, "lib", "handoverkey"))
        r = demo("--target", "board", "--port", vb.port, "--mode", "reactive", "--at", "0", "--key-bits", "1024")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "reactive handover, AT 0, 1024-bit keys, routers on board, mobile node on cpython: PAR accepted" in r.stdout
        r = demo("--target", "board", "--board-role", "mobile", "--port", vb.port, "--key-bits", "1024")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "routers on cpython, mobile node on board: PAR accepted the FBU" in r.stdout
        # Mixed: routers on the board, the mobile node in a MicroPython subprocess.
        r = demo("--router-target", "board", "--mobile-target", "micropython", "--port", vb.port, "--key-bits", "1024")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "routers on board, mobile node on micropython" in r.stdout
    assert vb.error is None


def test_board_target_needs_a_port():
    r = demo("--target", "board")
    assert r.returncode == 2 and "needs --port" in r.stderr


def test_readme_blocks_exist():
    assert "mip install boards/manifests/router/package.json" in readme_block("boards/README.md", "router")
    assert "--board-role mobile" in readme_block("boards/rp2-pico-w-mobile/README.md", "mobile")
