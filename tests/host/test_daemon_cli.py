"""The daemon's command line on both interpreters: a bad config is one line on stderr and exit status 2."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")
MPY = os.path.join(os.path.dirname(sys.executable), "micropython")
TARGETS = ["cpython"] + (["micropython"] if os.path.exists(MPY) else [])


def daemon(target, *args):
    if target == "cpython":
        cmd, env = [sys.executable, "-m", "handoverkey.daemon"], dict(os.environ, PYTHONPATH=FIRMWARE)
    else:
        cmd, env = [MPY, "-X", "heapsize=8M", "-m", "handoverkey.daemon"], dict(os.environ, MICROPYPATH=FIRMWARE)
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, timeout=120)


def par_config():
    with open(os.path.join(ROOT, "tests", "fixtures", "engine", "router_par.json")) as f:
        return json.load(f)


def one_line_exit_2(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("handoverkey.daemon: "), r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    return lines[0]


CASES = [
    ("bad-json", "{not json", "not valid JSON"),
    ("not-object", "[1, 2, 3]", "must be a JSON object"),
    ("missing-key", json.dumps({"link_local": "fe80" + "00" * 14}), "missing config key: key"),
    ("unknown-key", None, "unknown config key: colour"),
    ("bad-route", json.dumps({"routes": [{"prefix": "x", "interface": "lo", "mac": "02"}]}), "config key routes"),
    ("router-handover", json.dumps({"handover": "reactive"}), "handover"),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name,text,expect", CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_line_and_exit_2(tmp_path, target, name, text, expect):
    if text is None:
        cfg = par_config()
        cfg["colour"] = "blue"
        text = json.dumps(cfg)
    path = tmp_path / "cfg.json"
    path.write_text(text)
    line = one_line_exit_2(daemon(target, "--role", "router", "--interface", "lo", "--config", str(path)))
    assert expect in line


@pytest.mark.parametrize("target", TARGETS)
def test_missing_file_bad_arguments_and_missing_interface(tmp_path, target):
    assert "cannot read config" in one_line_exit_2(
        daemon(target, "--role", "router", "--interface", "lo", "--config", str(tmp_path / "none.json")))
    assert "--role" in one_line_exit_2(daemon(target, "--role", "switch", "--config", "x.json"))
    assert "unknown argument" in one_line_exit_2(daemon(target, "--colour", "blue"))
    path = tmp_path / "par.json"
    path.write_text(json.dumps(par_config()))
    assert "no such Ethernet interface" in one_line_exit_2(
        daemon(target, "--role", "router", "--interface", "hk-nonexistent0", "--config", str(path)))


@pytest.mark.parametrize("target", TARGETS)
def test_help_and_control_client_without_a_daemon(tmp_path, target):
    r = daemon(target, "--help")
    assert r.returncode == 0 and "--role router|mobile" in r.stdout
    r = daemon(target, "--control", str(tmp_path / "nobody.ctl"), "--send", "status")
    assert r.returncode == 1 and "cannot reach control socket" in r.stdout


def test_key_store_needs_a_secret_and_a_router(tmp_path):
    """The key store settings are checked like every other: one line, exit 2."""
    from hostsim.world import Plan, router_config

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = router_config("PAR", Plan())
    cfg.update({"interfaces": ["lo"], "key_store": str(tmp_path / "keys.hkks")})
    path = tmp_path / "par.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "handoverkey.daemon", "--role", "router", "--config", str(path)],
                cwd=root, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "device_secret_path" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def in_process_daemon(tmp_path, role, cfg):
    """(a Daemon on the loopback interface built from cfg in this process, its log as StringIO)."""
    import io

    sys.path.insert(0, FIRMWARE)
    from handoverkey import daemon as d

    path = tmp_path / ("%s.json" % role)
    path.write_text(json.dumps(cfg))
    engine_cfg, settings = d.load_config(str(path), role, {"interfaces": ["lo"]})
    out = io.StringIO()
    return d.Daemon(role, d.build(role, engine_cfg), settings, out=out), out


def test_failed_checkpoint_is_tried_again(tmp_path):
    """A checkpoint that could not be written (here: its directory is missing) leaves the table
    marked as changed, so the next one, at the next interval or the clean stop, writes it."""
    cfg = par_config()
    store = tmp_path / "later" / "par.hkks"
    cfg.update({"key_store": str(store), "device_secret_path": str(tmp_path / "secret")})
    (tmp_path / "secret").write_text("00112233445566778899aabbccddeeff")
    dm, out = in_process_daemon(tmp_path, "router", cfg)
    try:
        dm._secret = b"00112233445566778899aabbccddeeff"
        dm._dirty = True  # as after key-provisioned
        dm.checkpoint()
        assert "checkpoint-failed" in out.getvalue() and dm._dirty
        os.makedirs(store.parent)
        dm.checkpoint()
        assert "keys-checkpointed" in out.getvalue() and not dm._dirty and store.exists()
    finally:
        dm.close()


def test_a_link_change_while_a_key_is_held_is_the_handover(tmp_path):
    """The mobile daemon treats a carrier down/up as the move to the NAR's link whenever the node
    holds a key for its PAR, whatever else it is doing (here: a refresh under way, state
    'soliciting'); only a node without a key attaches (which drops any old key)."""
    with open(os.path.join(ROOT, "tests", "fixtures", "engine", "mobile_1024.json")) as f:
        cfg = json.load(f)
    cfg["handover"] = "reactive"
    dm, out = in_process_daemon(tmp_path, "mobile", cfg)
    try:
        mn = dm.engine
        now = dm.clock.ms()
        mn.keys.put([mn.router_address], mn.pcoa, 1, bytes(32), now + 600000, now)
        mn._key_state = "soliciting"  # as while a refresh waits for its PrRtAdv
        dm.attached = True
        dm._new_link()
        log = out.getvalue()
        assert "fbu-sent" in log and "cps-sent" not in log and mn.has_key(dm.clock.ms()), log
    finally:
        dm.close()
