"""The restart-* attack scenarios: the PAR's key store (firmware/handoverkey/keystore.py) across a restart.

Registered into hostsim/attacks.py's list (imported at its end). Each scenario attaches the
legitimate MN, has the PAR checkpoint its key table (Router.checkpoint through the engine's `call`,
so on --target micropython the store is written and read inside MicroPython), then tampers with,
replays or tears the files on disk and restarts the PAR: a new engine from the same config, which
calls Router.restore.

  rejected               every tampered, foreign or replayed store was refused (restore-refused
                         with the reason the variant aims at) and the restarted PAR then held no
                         key at all, so nothing the attacker wrote or changed became a key (an FBU
                         under the attacker's planted key is refused); every crash state restored
                         exactly the legitimate key and nothing else.
  legitimate_key_intact  after the restart from the last good checkpoint the legitimate MN's key
                         record is there (address, key fingerprint, AT and key octet for octet;
                         expiry re-based: never later, under 3 s earlier per restart) and its FBU
                         is accepted and its FBack verified.

A refused store is an availability loss by design: the restarted router starts empty and the
mobile nodes re-key (RFC 5269 §3.3). So the tamper and replay scenarios end by putting the last
good files back (the operator repairing the store) before the final restart; the details say so.
Files live in a temporary directory per scenario; the device secret is random per scenario.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from handoverkey import crypto, keystore
from handoverkey.keytable import KeyTable

from .attacks import ScenarioError, _attacker, attack, attacker_key, craft_fbu
from .targets import FIRMWARE, ROOT, make_engine, micropython_command

KILLS = {"cpython": 5, "micropython": 5}


class _Store:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hk-restart-")
        self.path = os.path.join(self.dir, "par.hkks")
        self.secret = crypto.random_bytes(32)

    @property
    def counter(self):
        return self.path + ".gen"

    def read(self, which=None):
        with open(which or self.path, "rb") as f:
            return f.read()

    def write(self, data, which=None):
        with open(which or self.path, "wb") as f:
            f.write(data)

    def files(self):
        return {n: self.read(os.path.join(self.dir, n)) for n in os.listdir(self.dir)}

    def put_files(self, files):
        for n in os.listdir(self.dir):
            os.remove(os.path.join(self.dir, n))
        for n, data in files.items():
            self.write(data, os.path.join(self.dir, n))

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def _checkpoint(sc, st):
    m = sc.mark()
    sc.net.call("PAR", "checkpoint", st.path, st.secret.hex())
    ev = sc.events(m, "PAR", "keys-checkpointed")
    if not ev:
        raise ScenarioError("the PAR did not checkpoint: %s" % [k for _, k, _ in sc.events(m, "PAR")])
    return ev[0][2]["generation"]


def _restart(sc):
    """The PAR process restarts: a new engine from the same config, an empty key table."""
    node = sc.net.nodes["PAR"]
    node.engine.close()
    new = make_engine(sc.target, "router", sc.w.par_cfg)
    sc.w.engines.append(new)
    node.engine = new
    sc.par = new


def _restart_and_restore(sc, st, variant, expect):
    """Restart the PAR, let it restore from the store, record the check; the observed tokens."""
    _restart(sc)
    m = sc.mark()
    sc.net.call("PAR", "restore", st.path, st.secret.hex())
    seen = []
    for _, kind, fields in sc.events(m, "PAR"):
        reason = fields.get("reason") if isinstance(fields, dict) else None
        seen.append(kind + (":" + reason if reason else ""))
    sc.checks.append({"variant": variant, "node": "PAR", "expected": sorted(expect), "observed": seen,
                      "ok": any(s in expect for s in seen)})
    return seen


def _same_key(par0, par1, restores=1):
    """Failures of 'par1 is the legitimate record par0 after `restores` checkpoint/restore cycles'
    (address, fingerprint, AT and key identical; expiry never later, under 3 s earlier per cycle)."""
    if par1 is None:
        return ["the legitimate key is missing after the restart"]
    if par1[:4] != par0[:4]:
        return ["the legitimate key record differs after the restart"]
    if not par0[4] - 3000 * restores < par1[4] <= par0[4]:
        return ["restored expiry %d ms is not within %d s before %d ms" % (par1[4], 3 * restores, par0[4])]
    return []


def _flip(data, i, x=0x01):
    b = bytearray(data)
    b[i] ^= x
    return bytes(b)


def _legit_setup(sc, st):
    sc.attach_legit()
    before = sc.snap()
    par0, mn0 = sc.legit_entries(before)
    if par0 is None or mn0 is None or par0[3] != mn0[3]:
        raise ScenarioError("no shared legitimate key before the attack")
    gen = _checkpoint(sc, st)
    return before, par0, gen


def _finish(sc, st, name, before, par0, m, rejected, summary, good_files=None, restores=1):
    """Final restart from the last good store; verdict."""
    after = sc.snap()
    rejected = rejected + sc.effects(m, before, after)
    intact = []
    if good_files is not None:
        st.put_files(good_files)
    seen = _restart_and_restore(sc, st, "restart from the last good checkpoint", {"keys-restored"})
    if "keys-restored" not in seen:
        intact.append("the last good store was not restored (%s)" % ",".join(seen))
    snap = sc.snap()
    par1, _ = sc.legit_entries(snap)
    intact += _same_key(par0, par1, restores)
    if len(snap["par"]["keys"]) != len(before["par"]["keys"]):
        intact.append("restored %d keys, the checkpoint held %d" % (len(snap["par"]["keys"]), len(before["par"]["keys"])))
    intact += sc.legit_handover()
    return sc.result(name, rejected, intact, summary)


def _changed(files, change):
    """A copy of the store's files with `change` applied: name -> new octets, or None to delete."""
    out = dict(files)
    for name, data in change.items():
        if data is None:
            out.pop(name, None)
        else:
            out[name] = data
    return out


def _empty_after(sc, variant):
    keys = sc.par.snapshot()["keys"]
    return ["a key came out of the refused store (%s)" % variant] if keys else []


@attack("restart-tampered-store", "the PAR's sealed key store modified, truncated, forged or mixed on disk across a restart")
def a_restart_tampered_store(sc):
    st = _Store()
    try:
        before, par0, gen = _legit_setup(sc, st)
        older = st.files()
        gen = _checkpoint(sc, st)  # the last good checkpoint (one entry: the legitimate key)
        good = st.files()
        data = good["par.hkks"]
        n = len(data)
        m = sc.mark()
        rejected = []
        a, _, _, _ = _attacker(sc)
        at = par0[2]
        # A store sealed under another device's secret, putting the attacker's key under the
        # legitimate PCoA and under the attacker's own address.
        t = KeyTable(4)
        exp = sc.net.now_ms + 3600 * 1000
        t.put(sc.w.pcoa, bytes.fromhex(par0[1]), at, attacker_key(at), exp, sc.net.now_ms)
        t.put(a, bytes(4), at, attacker_key(at), exp, sc.net.now_ms)
        forged = keystore.seal(t, crypto.random_bytes(32), sc.net.now_ms, sc.wall_s, gen + 1000)
        variants = [
            ("CBC bit flip: IV octet 15 flipped, which would flip the last octet of the legitimate "
             "entry's address (redirecting its key) if the store were not MAC'd", {"par.hkks": _flip(data, 28 + 15)},
             {"restore-refused:mac"}),
            ("ciphertext octet flipped in the block holding the legitimate key",
             {"par.hkks": _flip(data, 44 + 32, 0x80)}, {"restore-refused:mac"}),
            ("header generation raised by one (to outrun the counter)", {"par.hkks": _flip(data, 15)},
             {"restore-refused:mac"}),
            ("header entry count changed from 1 to 0", {"par.hkks": _flip(data, 7)}, {"restore-refused:mac"}),
            ("last octet of the MAC flipped", {"par.hkks": _flip(data, n - 1)}, {"restore-refused:mac"}),
            ("the store cut to half its length", {"par.hkks": data[: n // 2]},
             {"restore-refused:mac", "restore-refused:size"}),
            ("the store cut by one octet", {"par.hkks": data[:-1]}, {"restore-refused:mac"}),
            ("half new, half old: the first half of the last checkpoint over the second half of the one "
             "before (what an in-place writer leaves after a crash)",
             {"par.hkks": data[: n // 2] + older["par.hkks"][n // 2 :]}, {"restore-refused:mac"}),
            ("a store sealed under another device secret mapping the legitimate PCoA to the attacker's key "
             "(generation %d)" % (gen + 1000), {"par.hkks": forged}, {"restore-refused:mac"}),
            ("the counter file deleted (store intact)", {"par.hkks": data, "par.hkks.gen": None},
             {"restore-refused:no-counter"}),
            ("the counter file's generation edited without its MAC", {"par.hkks.gen": _flip(good["par.hkks.gen"], 15, 0x03)},
             {"restore-refused:counter"}),
        ]
        for variant, change, expect in variants:
            st.put_files(_changed(good, change))
            _restart_and_restore(sc, st, variant, expect)
            rejected += _empty_after(sc, variant)
            if variant.startswith("a store sealed"):
                sc.probe("FBU for the legitimate PCoA under the key planted in the forged store",
                         craft_fbu(a, sc.w.par_address, sc.w.pcoa, a, 7, at=at, key=attacker_key(at)), "PAR",
                         {"fbu-rejected:no-key"})
        # Crash-recovery bait: a forged complete store left as the temporary file next to the
        # intact store. The .tmp is never read: the genuine store restores.
        st.put_files(_changed(good, {"par.hkks.tmp": forged}))
        seen = _restart_and_restore(sc, st, "a forged par.hkks.tmp planted beside the intact store", {"keys-restored"})
        par1, _ = sc.legit_entries(sc.snap())
        if "keys-restored" in seen:
            rejected += ["the restored table is not the genuine one: " + f for f in _same_key(par0, par1)]
            sc.probe("FBU for the legitimate PCoA under the key in the planted .tmp",
                     craft_fbu(a, sc.w.par_address, sc.w.pcoa, a, 8, at=at, key=attacker_key(at)), "PAR",
                     {"fbu-rejected:mac"})
        return _finish(sc, st, "restart-tampered-store", before, par0, m, rejected,
                       "a refused store starts the PAR empty (keys lost, never altered); then the last good "
                       "store (generation %d) put back and restored" % gen, good_files=good)
    finally:
        st.close()


@attack("restart-replayed-store", "an older, authentic key store of the PAR put back in place of the current one")
def a_restart_replayed_store(sc):
    st = _Store()
    try:
        before, par0, gen1 = _legit_setup(sc, st)
        old = st.files()
        sc.advance(5000)
        gen2 = _checkpoint(sc, st)
        sc.advance(5000)
        gen3 = _checkpoint(sc, st)
        good = st.files()
        m = sc.mark()
        rejected = []
        other = keystore.derive_keys(crypto.random_bytes(32))[2]
        foreign_counter = os.path.join(st.dir, "foreign.gen")
        keystore.write_counter(foreign_counter, other, 0)
        fc = st.read(foreign_counter)
        variants = [
            ("the PAR's own generation-%d store (authentic) in place of generation %d" % (gen1, gen3),
             {"par.hkks": old["par.hkks"]}, {"restore-refused:replayed"}),
            ("the generation-%d store with its header generation rewritten to %d" % (gen1, gen3 + 1),
             {"par.hkks": _flip(old["par.hkks"], 15, gen1 ^ (gen3 + 1))}, {"restore-refused:mac"}),
            ("the generation-%d store, and the counter file deleted" % gen1,
             {"par.hkks": old["par.hkks"], "par.hkks.gen": None}, {"restore-refused:no-counter"}),
            ("the generation-%d store, and a counter at 0 sealed by another device" % gen1,
             {"par.hkks": old["par.hkks"], "par.hkks.gen": fc}, {"restore-refused:counter"}),
        ]
        for variant, change, expect in variants:
            st.put_files(_changed(good, change))
            _restart_and_restore(sc, st, variant, expect)
            rejected += _empty_after(sc, variant)
        sc.notes.append("not covered: rolling back the counter file together with the store (only a counter "
                        "outside the file system stops that; docs/threat-model.md)")
        return _finish(sc, st, "restart-replayed-store", before, par0, m, rejected,
                       "generations %d, %d, %d written; the last good store put back and restored" % (gen1, gen2, gen3),
                       good_files=good)
    finally:
        st.close()


def _agent_cmd(target):
    if target == "micropython":
        mpy = micropython_command()
        if mpy is None:
            raise ScenarioError("micropython command not found")
        return [mpy, "-X", "heapsize=4M", "-m", "handoverkey.agent"], dict(os.environ, MICROPYPATH=FIRMWARE + ":.frozen")
    return [sys.executable, "-m", "handoverkey.agent"], dict(os.environ, PYTHONPATH=FIRMWARE)


def _kill_during_checkpoints(sc, st, rng):
    """A PAR process on the scenario's interpreter restores the store and checkpoints back to
    back; SIGKILL after a random delay. Returns (checkpoints completed, error text or None)."""
    cmd, env = _agent_cmd(sc.target)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            env=env, cwd=ROOT, text=True, bufsize=1)
    try:
        def ask(req):
            proc.stdin.write(json.dumps(req) + "\n")
            proc.stdin.flush()
            return json.loads(proc.stdout.readline())

        r = ask({"op": "init", "role": "router", "config": sc.w.par_cfg})
        if "error" in r:
            return 0, r["error"]
        r = ask({"op": "call", "method": "restore", "args": [st.path, st.secret.hex()],
                 "now_ms": sc.net.now_ms, "wall_s": sc.wall_s})
        if not r.get("events") or r["events"][0][0] != "keys-restored":
            return 0, "the PAR process did not restore: %s" % r
        req = json.dumps({"op": "call", "method": "checkpoint", "args": [st.path, st.secret.hex()],
                          "now_ms": sc.net.now_ms, "wall_s": sc.wall_s}) + "\n"
        proc.stdin.write(req * 150)
        proc.stdin.flush()
        time.sleep(rng.uniform(0.0, 0.12))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
        done = sum(1 for line in out.splitlines() if "keys-checkpointed" in line)
        return done, None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@attack("restart-kill-during-checkpoint", "the PAR killed while checkpointing (torn temporary file, before and after "
        "each rename, and real SIGKILLs), then restarted")
def a_restart_kill_during_checkpoint(sc):
    st = _Store()
    try:
        before, par0, gen = _legit_setup(sc, st)
        good = st.files()
        m = sc.mark()
        rejected = []
        # The next checkpoint's files, for the crash states in between.
        _checkpoint(sc, st)
        new = st.files()
        states = [
            ("torn: the next store's temporary file cut at half, beside the intact store",
             dict(good, **{"par.hkks.tmp": new["par.hkks"][: len(new["par.hkks"]) // 2]})),
            ("torn: the next store's temporary file cut after 3 octets", dict(good, **{"par.hkks.tmp": new["par.hkks"][:3]})),
            ("the next store's temporary file complete, killed before its rename",
             dict(good, **{"par.hkks.tmp": new["par.hkks"]})),
            ("the next store renamed into place, killed before the counter's rename",
             dict(good, **{"par.hkks": new["par.hkks"]})),
            ("the counter's temporary file torn after the store's rename",
             dict(good, **{"par.hkks": new["par.hkks"], "par.hkks.gen.tmp": new["par.hkks.gen"][:20]})),
        ]
        for variant, files in states:
            st.put_files(files)
            seen = _restart_and_restore(sc, st, variant, {"keys-restored"})
            snap = sc.snap()
            par1, _ = sc.legit_entries(snap)
            if "keys-restored" in seen:
                rejected += ["%s: %s" % (variant, f) for f in _same_key(par0, par1)]
                if len(snap["par"]["keys"]) != 1:
                    rejected.append("%s: %d keys restored, 1 written" % (variant, len(snap["par"]["keys"])))
        # Real kills: the PAR on this target's interpreter, SIGKILLed at random points while it
        # checkpoints back to back; after each, a restart must restore the legitimate key.
        rng = random.Random()
        completed = []
        for i in range(KILLS[sc.target]):
            done, err = _kill_during_checkpoints(sc, st, rng)
            if err:
                raise ScenarioError(err)
            completed.append(done)
            seen = _restart_and_restore(sc, st, "SIGKILL #%d of a %s PAR process after %d completed checkpoint(s)"
                                        % (i + 1, sc.target, done), {"keys-restored"})
            snap = sc.snap()
            par1, _ = sc.legit_entries(snap)
            if "keys-restored" in seen:
                # Each kill adds two cycles: the process's restore, then this one.
                rejected += ["kill #%d: %s" % (i + 1, f) for f in _same_key(par0, par1, 2 * i + 3)]
                if len(snap["par"]["keys"]) != 1:
                    rejected.append("kill #%d: %d keys restored, 1 written" % (i + 1, len(snap["par"]["keys"])))
        sc.notes.append("%d SIGKILLs after %s completed checkpoints" % (len(completed), "/".join(map(str, completed))))
        return _finish(sc, st, "restart-kill-during-checkpoint", before, par0, m, rejected,
                       "every crash state restored the last complete store", restores=2 * len(completed) + 2)
    finally:
        st.close()
