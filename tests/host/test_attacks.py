"""`hostsim attacks`: every attack rejected with the legitimate key intact, on both targets, and
proof that the harness reports a failure when an engine is deliberately weakened."""

import json
import os
import subprocess
import sys

import pytest

import handoverkey.router as router_mod
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.mobile import MobileNode
from handoverkey.send import cga
from handoverkey.send import signature as real_signature
from handoverkey.wire import ndopt
from hostsim import attacks
from hostsim.__main__ import main as hostsim_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLOOD = "flood-distinct-cgas"
ALL = attacks.names()
NOT_FLOOD = [n for n in ALL if n != FLOOD]

EXPECTED = {
    "forged-signature", "cga-mismatch", "key-hash-mismatch", "replayed-rtsolpr", "stale-timestamp",
    "missing-timestamp", "missing-nonce", "zero-length-option", "truncated-option", "unknown-nonce",
    "uncertified-router-key", "certificate-outside-range", "bid-down-at", "fbu-wrong-mac", "fbu-unknown-pcoa",
    "fbu-expired-key", "flood-distinct-cgas", "flood-rate-random-keys",  # hostsim/attacks_flood.py
    "restart-tampered-store", "restart-replayed-store", "restart-kill-during-checkpoint",  # hostsim/attacks_restart.py
}


def test_every_attack_of_the_brief_is_there():
    assert set(ALL) == EXPECTED


def assert_defended(r):
    assert r["rejected"], r["detail"]
    assert r["legitimate_key_intact"], r["detail"]
    # Every attack frame was stopped by the check the scenario is about, not by some other one.
    assert r["checks_ok"], r["detail"]
    assert r["checks"] or r["name"].startswith("flood")


@pytest.mark.parametrize("name", ALL)
def test_attack_cpython(name):
    r = attacks.run_attack(name, "cpython")
    assert r["name"] == name and r["target"] == "cpython"
    assert_defended(r)


def test_flood_keeps_the_table_bounded_cpython():
    # Bounded state, every valid CGA answered or rate-limited, never more keys than the capacity.
    r = attacks.run_attack(FLOOD, "cpython")
    assert r["rejected"], r["detail"]
    table_max = int(r["detail"].split("table max ")[1].split()[0].rstrip(";,"))
    assert 0 < table_max <= attacks.FLOOD_CAPACITY


def run_cli(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "hostsim", "attacks", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_json_on_micropython():
    r = run_cli("--json", "--target", "micropython", "--only", ",".join(NOT_FLOOD))
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [x["name"] for x in lines] == NOT_FLOOD, r.stderr
    for x in lines:
        assert x["target"] == "micropython"
        assert_defended(x)
    assert r.returncode == 0, r.stdout


def test_flood_on_micropython():
    r = run_cli("--json", "--target", "micropython", "--only", FLOOD)
    (x,) = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert x["target"] == "micropython"
    assert_defended(x)


def test_cli_table_list_and_exit_codes(capsys):
    assert hostsim_main(["attacks", "--only", "missing-nonce,fbu-unknown-pcoa"]) == 0
    out = capsys.readouterr().out
    assert "missing-nonce" in out and "fbu-unknown-pcoa" in out and out.rstrip().splitlines()[-1].startswith("PASS")
    assert hostsim_main(["attacks", "--list"]) == 0
    assert set(line.split()[0] for line in capsys.readouterr().out.splitlines()) == set(ALL)
    assert hostsim_main(["attacks", "--only", "no-such-attack"]) == 2


def test_cli_json_fields(capsys):
    assert hostsim_main(["attacks", "--json", "--only", "replayed-rtsolpr"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    x = json.loads(line)
    assert {"name", "rejected", "legitimate_key_intact", "target", "detail"} <= set(x)
    assert x["name"] == "replayed-rtsolpr" and x["rejected"] is True and x["legitimate_key_intact"] is True


# ---- the harness can fail ------------------------------------------------------------------


class _NoSignatureCheck:
    """A router that checks the CGA but neither the Key Hash nor the RSA signature."""

    sign = staticmethod(real_signature.sign)

    @staticmethod
    def verify(buf, pkt, msg, min_bits=1024, **kw):
        _, off, length = msg.find(ndopt.OPT_CGA)
        params = cga.cga_verify(pkt.src, ndopt.get_cga(buf, off, length).params)
        key = RsaPublicKey.from_spki(bytes(params.key))
        return real_signature.SendCheck(key, key.key_hash(), params)


def test_harness_catches_a_router_that_skips_the_signature_check(monkeypatch, capsys):
    monkeypatch.setattr(router_mod, "signature", _NoSignatureCheck)
    r = attacks.run_attack("forged-signature", "cpython")
    assert r["rejected"] is False, r["detail"]
    # The spoofed request got the legitimate key, encrypted to the attacker's HKE key.
    assert "the attacker decrypted the legitimate handover key" in r["detail"]
    assert not r["checks_ok"]
    # And the command says so in its exit status.
    assert hostsim_main(["attacks", "--json", "--only", "forged-signature"]) == 1
    assert json.loads(capsys.readouterr().out)["rejected"] is False


def test_harness_catches_a_mobile_node_that_ignores_the_nonce(monkeypatch):
    monkeypatch.setattr(MobileNode, "_find_pending", lambda self, nonce: self._pending[-1] if self._pending else None)
    r = attacks.run_attack("unknown-nonce", "cpython")
    assert r["rejected"] is False, r["detail"]
    assert r["legitimate_key_intact"] is False, r["detail"]
    assert "MN stored" in r["detail"] and not r["checks_ok"]


def test_a_scenario_that_cannot_run_is_a_failure(monkeypatch):
    monkeypatch.setattr(attacks.World, "attach", lambda self: False)
    r = attacks.run_attack("missing-nonce", "cpython")
    assert r["rejected"] is False and r["legitimate_key_intact"] is False
    assert "scenario error" in r["detail"]
