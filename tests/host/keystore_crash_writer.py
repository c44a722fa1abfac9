"""The victim of tests/host/test_keystore_faults.py: runs under CPython or MicroPython.

usage: keystore_crash_writer.py DIR SECRET_HEX SEED BATCHES slow|fast

Repeatedly provisions keys into a KeyTable (a deterministic workload: new keys, replaced keys,
LRU touches, short-lived keys) and checkpoints the table after each batch with keystore.checkpoint
(generation = batch number), printing a line before each phase and "checkpoint N done" after each
completed checkpoint. The test kills it with SIGKILL at a random moment and checks what a restore
gives. In "slow" mode the store's temporary file is written in small chunks with pauses, and
there are pauses before each rename, so that kills land inside every phase often; the keystore
code itself is unchanged (only its `open` and `os` names are wrapped here).
"""

import hashlib
import sys

WALL0 = 1811808000
CAPACITY = 64
PER_BATCH = 6
LONG_S = 30000  # below the 65535 s restore cap, so restored expiries are exact
MEDIUM_S = 995  # restored at WALL0 + 1000 (the test): kept from batch 7 on, dropped before
SHORT_S = 2


def addr(n):
    return bytes([0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0]) + bytes(6) + bytes([(n >> 8) & 0xFF, n & 0xFF])


def material(seed, b, i, n):
    return hashlib.sha256(("%s/%d/%d" % (seed, b, i)).encode()).digest()[:n]


def batch(table, seed, b):
    """Batch b (1, 2, ...) at now_ms = b * 1000: the same on every interpreter."""
    now_ms = b * 1000
    for i in range(PER_BATCH):
        at = (b + i) & 1
        life = SHORT_S if i == 0 else MEDIUM_S if i == 1 else LONG_S
        table.put(addr(b * 16 + i), material(seed, b, i, 4), at, material(seed, b, 100 + i, 32 if at else 20),
                  now_ms + life * 1000, now_ms)
    if b >= 2:
        # Replace the key of an address from the previous batch (same address, new key).
        a = addr((b - 1) * 16 + 1)
        at = b & 1
        table.put(a, material(seed, b, 200, 4), at, material(seed, b, 201, 32 if at else 20),
                  now_ms + LONG_S * 1000, now_ms)
    if b >= 3:
        table.lookup(addr((b - 2) * 16 + 2), now_ms)  # LRU touch
    return now_ms, WALL0 + b


def _out(line):
    sys.stdout.write(line + "\n")
    fl = getattr(sys.stdout, "flush", None)
    if fl is not None:
        fl()


def _sleep_ms(ms):
    import time

    s = getattr(time, "sleep_ms", None)
    if s is not None:
        s(ms)
    else:
        time.sleep(ms / 1000.0)


class _SlowFile:
    def __init__(self, f, tag):
        self.f = f
        self.tag = tag

    def write(self, data):
        n = 0
        mv = memoryview(data)
        while n < len(data):
            k = self.f.write(mv[n : n + 256])
            n += k
            _sleep_ms(1)
        return n

    def flush(self):
        self.f.flush()

    def fileno(self):
        return self.f.fileno()

    def close(self):
        self.f.close()
        _out("stage %s written" % self.tag)


class _SlowOs:
    def __init__(self, real):
        self.real = real
        self.gen = 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def rename(self, a, b):
        what = "counter" if b.endswith(".gen") else "store"
        _sleep_ms(3)
        _out("stage %d %s-rename" % (self.gen, what))
        self.real.rename(a, b)
        _out("stage %d %s-renamed" % (self.gen, what))


def main(argv):
    d, secret_hex, seed, batches, mode = argv[0], argv[1], argv[2], int(argv[3]), argv[4]
    sys.path.insert(0, argv[5] if len(argv) > 5 else "firmware")
    import os

    from handoverkey import keystore
    from handoverkey.keytable import KeyTable

    secret = bytes.fromhex(secret_hex)
    path = d + "/store"
    slow = None
    if mode == "slow":
        slow = _SlowOs(os)
        real_open = open

        def slow_open(p, m="r"):
            f = real_open(p, m)
            if "w" in m:
                what = "counter" if p.endswith(".gen.tmp") else "store"
                _out("stage %d %s-write" % (slow.gen, what))
                return _SlowFile(f, "%d %s" % (slow.gen, what))
            return f

        keystore.open = slow_open
        keystore.os = slow
    table = KeyTable(CAPACITY)
    _out("ready")
    for b in range(1, batches + 1):
        _out("batch %d" % b)
        now_ms, wall_s = batch(table, seed, b)
        if slow is not None:
            slow.gen = b
        keystore.checkpoint(table, path, secret, now_ms, wall_s, b)
        _out("checkpoint %d done" % b)
    _out("finished")


if __name__ == "__main__":
    main(sys.argv[1:])
