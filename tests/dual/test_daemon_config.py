"""The daemon's config file: every mistake is a UsageError (one line, exit status 2), never a traceback."""

import json
import os

from dualtest import raises, read_fixture
from handoverkey import daemon
from handoverkey.daemon import UsageError


def _tmp(text):
    path = "/tmp/hk-daemon-test-%s.json" % os.urandom(4).hex()
    with open(path, "w") as f:
        f.write(text)
    return path


_DEFAULT_OPTS = {"interfaces": ["eth0"]}


def _load(text, role="router", opts=None):
    path = _tmp(text)
    try:
        return daemon.load_config(path, role, opts if opts is not None else _DEFAULT_OPTS)
    finally:
        os.remove(path)


def _bad(text, role="router", opts=None):
    path = _tmp(text)
    try:
        return raises(UsageError, daemon.load_config, path, role, opts if opts is not None else _DEFAULT_OPTS)
    finally:
        os.remove(path)


def _par():
    return json.loads(read_fixture("engine/router_par.json", "r"))


def _mobile():
    return json.loads(read_fixture("engine/mobile_1024.json", "r"))


def test_unreadable_file():
    raises(UsageError, daemon.load_config, "/nonexistent/hk.json", "router", {"interfaces": ["eth0"]})


def test_bad_json_and_non_objects():
    _bad("{not json")
    _bad("")
    _bad("[1, 2]")
    _bad('"router"')


def test_role_mismatch():
    _bad('{"role": "mobile"}', "router")


def test_no_interface_anywhere():
    _bad("{}", "router", {})
    _bad('{"interfaces": []}', "router", {})
    _bad('{"interfaces": [3]}', "router", {})


def test_daemon_keys_are_split_from_engine_keys():
    cfg = _par()
    cfg.update({"role": "router", "interfaces": ["par-link", "bb0"], "rate_limit_pps": 5,
                "routes": [{"prefix": "2001:db8:2::", "prefix_len": 64, "interface": "bb0",
                            "mac": "02:00:00:00:b0:bb"}]})
    engine_cfg, s = _load(json.dumps(cfg), "router", {})
    for k in daemon.DAEMON_KEYS:
        assert k not in engine_cfg
    assert s["interfaces"] == ["par-link", "bb0"] and s["rate_limit_pps"] == 5
    prefix, plen, ifname, mac = s["routes"][0]
    assert plen == 64 and ifname == "bb0" and mac == bytes.fromhex("02000000b0bb")
    assert prefix[:6] == bytes.fromhex("20010db80002")
    engine = daemon.build("router", engine_cfg)
    assert engine.address == bytes.fromhex(cfg["address"])


def test_engine_source_burst_reaches_the_router():
    """The engine's source_burst (per-source RtSolPr burst) and the daemon's per-source frame
    burst (source_rate_burst) are different keys: each goes to its owner."""
    cfg = _par()
    cfg.update({"interfaces": ["eth0"], "source_burst": 3, "source_rate_burst": 9})
    engine_cfg, s = _load(json.dumps(cfg), "router", {})
    assert engine_cfg["source_burst"] == 3 and "source_rate_burst" not in engine_cfg
    assert s["source_rate_burst"] == 9 and "source_burst" not in s
    assert daemon.build("router", engine_cfg)._sources.burst == 3


def test_command_line_wins_over_config():
    _, s = _load('{"interfaces": ["a"], "log_path": "/x"}', "router", {"interfaces": ["b"], "log": "/y"})
    assert s["interfaces"] == ["b"] and s["log_path"] == "/y"


def test_bad_daemon_keys():
    _bad('{"handover": "reactive"}', "router")  # a router does not hand over
    _bad('{"handover": "sideways"}', "mobile")
    _bad('{"handover": "predictive"}', "mobile")  # needs a control socket to say when
    _bad('{"rate_limit_pps": "10"}')
    _bad('{"rate_limit_pps": -1}')
    _bad('{"link_poll_ms": 0}')
    _bad('{"auto_attach": 1}', "mobile")
    _bad('{"gateway_mac": "02:00"}', "mobile")
    _bad('{"keylog_path": ""}', "mobile")
    _bad('{"routes": {}}')
    _bad('{"routes": [{"prefix": "2001:db8::", "interface": "eth0"}]}')  # no mac
    _bad('{"routes": [{"prefix": "2001:db8::", "interface": "wlan9", "mac": "020000000001"}]}')
    _bad('{"routes": [{"prefix": "nope", "interface": "eth0", "mac": "020000000001"}]}')
    _bad('{"routes": [{"prefix": "2001:db8::", "prefix_len": 129, "interface": "eth0", "mac": "020000000001"}]}')


def test_keylog_follows_keylog_path():
    cfg = _mobile()
    cfg["keylog"] = True
    _bad(json.dumps(cfg), "mobile")  # secrets asked for, but no file to put them in
    cfg["keylog_path"] = "/tmp/k.log"
    engine_cfg, s = _load(json.dumps(cfg), "mobile")
    assert engine_cfg["keylog"] is True and s["keylog_path"] == "/tmp/k.log"
    del cfg["keylog_path"]
    cfg["keylog"] = False
    engine_cfg, _ = _load(json.dumps(cfg), "mobile")
    assert engine_cfg["keylog"] is False
    _bad('{"keylog": true}', "router")


def test_engine_config_errors_become_usage_errors():
    raises(UsageError, daemon.build, "router", {})
    raises(UsageError, daemon.build, "mobile", {"pcoa": "zz"})
    cfg = _par()
    cfg["bogus_key"] = 1
    raises(UsageError, daemon.build, "router", cfg)
    cfg = _par()
    del cfg["address"]
    e = raises(UsageError, daemon.build, "router", cfg)
    assert "\n" not in e.msg


def test_main_returns_2_for_config_errors():
    for text in ("{bad", "[]", '{"role": "router"}'):
        path = _tmp(text)
        try:
            assert daemon.main(["--role", "router", "--interface", "lo", "--config", path]) == 2
        finally:
            os.remove(path)
    assert daemon.main(["--role", "router"]) == 2
    assert daemon.main(["--what"]) == 2
    assert daemon.main(["--role", "router", "--interface", "lo", "--config", "/nonexistent.json"]) == 2
