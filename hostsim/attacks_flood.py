"""The flood-rate attack: thousands of valid-CGA RtSolPrs a second from random keys while the
legitimate mobile node attaches; registered into hostsim.attacks like every other scenario."""

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.router import RTSOLPR_BURST, RTSOLPR_RATE
from handoverkey.send import cga_gen

from . import attacks
from .world import PAR_PREFIX, addr

FLOOD_KEY_COUNT = 16  # fresh RSA keys per run; each mints many Sec 0 CGAs (one hash each)
FLOOD_RATE_PER_S = {"cpython": 2000, "micropython": 1000}
FLOOD_SECONDS = 3
ATTACH_AT_MS = 500  # the legitimate node attaches this far into the flood


@functools.lru_cache(maxsize=None)
def flood_keys(n=FLOOD_KEY_COUNT):
    """n random 1024-bit RSA keys, made once per process (what a flooder would generate)."""
    out = []
    for _ in range(n):
        k = rsa.generate_private_key(65537, 1024)
        der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
        out.append(RsaPrivateKey.from_pkcs8(der))
    return tuple(out)


def _flood_frames(sc, count):
    keys = flood_keys()
    prefix = addr(PAR_PREFIX)[:8]
    frames = []
    for i in range(count):
        k = keys[i % len(keys)]
        hke = keys[(i + 1) % len(keys)]
        a, params = cga_gen.cga_generate(k.public.spki(), prefix, sec=0, modifier=i.to_bytes(16, "big"))
        sc.attacker_addrs.add(a)
        frames.append(attacks.craft_rtsolpr(a, sc.w.par_ll, params, k, sc.wall_s, hke.public.spki()))
    return frames


@attacks.attack("flood-rate-random-keys",
                "thousands of valid-CGA RtSolPrs a second from random keys while the legitimate MN attaches")
def a_flood_rate(sc):
    rate = FLOOD_RATE_PER_S.get(sc.target, 1000)
    total = rate * FLOOD_SECONDS
    frames = _flood_frames(sc, total)
    per_ms = rate // 1000
    m = sc.mark()
    start = sc.net.now_ms
    max_keys = 0
    sent = 0
    for ms in range(FLOOD_SECONDS * 1000):
        if ms == ATTACH_AT_MS:
            sc.net.call("MN", "attach")
        for _ in range(per_ms):
            sc.inject(frames[sent])
            sent += 1
        sc.net.run(max_ms=1)
        if ms % 100 == 0:
            max_keys = max(max_keys, len(sc.par.snapshot()["keys"]))
    sc.settle(10000)
    max_keys = max(max_keys, len(sc.par.snapshot()["keys"]))
    elapsed_s = (sc.net.now_ms - start) / 1000.0
    answers = [f for _, link, f in sc.frames(m) if attacks.is_prrtadv_from(f, sc.w.par_ll)]
    limited = len(sc.events(m, "PAR", "rate-limited"))
    budget = int(RTSOLPR_RATE * elapsed_s) + RTSOLPR_BURST
    legit_tries = len(sc.events(m, "MN", "rtsolpr-sent"))
    stored = sc.events(m, "MN", "key-stored")
    cap = sc.w.plan.table_capacity
    rejected = []
    if len(answers) > budget:
        rejected.append("PAR signed %d PrRtAdvs in %.1f s, over its RSA budget of %d" % (len(answers), elapsed_s, budget))
    if max_keys > cap:
        rejected.append("PAR key table grew to %d (capacity %d)" % (max_keys, cap))
    intact = []
    if not stored:
        intact.append("the legitimate MN got no key during the flood (%d RtSolPr sent)" % legit_tries)
    elif legit_tries > 1 + 3:
        intact.append("the legitimate MN needed %d RtSolPrs (more than its normal retries)" % legit_tries)
    sc.notes.append("%d RtSolPrs from %d random keys (distinct Sec 0 CGAs) at %d/s for %d s: PAR signed %d answers "
                    "(budget %d = %d/s + burst %d), %d rate-limited, key table max %d of %d; the legitimate MN got "
                    "its key after %d RtSolPr(s)" % (total, FLOOD_KEY_COUNT, rate, FLOOD_SECONDS, len(answers), budget,
                                                     RTSOLPR_RATE, RTSOLPR_BURST, limited, max_keys, cap, legit_tries))
    if not intact:
        intact += sc.legit_handover()
    return sc.result("flood-rate-random-keys", rejected, intact, "")
