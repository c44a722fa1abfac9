"""Write the engine configs the dual engine tests load: `python -m hostsim.engine_fixtures` (CPython, run once).

Output, under tests/fixtures/engine/ (committed; the tests never regenerate it):

    router_par.json   the PAR of the simulated world (hostsim.world.router_config("PAR", ...))
    router_nar.json   the NAR (a certified router, but not the one the mobile node solicits)
    mobile_1024.json  the mobile node with 1024-bit CGA and HKE keys (hostsim.world.mobile_config)
    mobile_2048.json  the same with 2048-bit keys
    extra.json        what only some tests need:
                        wall_s       the fixed wall clock, inside the test certificates' validity
                        mn2          config overrides that turn mobile_1024 into a second mobile node
                                     with its own 1024-bit CGA key, CGAs and HKE key
                        mn1_cgas     more Sec 1 CGAs of mobile_1024's CGA key on the PAR's /64, as
                                     [address, CGA Parameters] hex pairs (distinct key-table indexes)
                        hke_e3_spki  a 1024-bit RSA public key with exponent 3 (wrong HKE parameters)

The keys in extra.json are generated here the first time and kept on later runs (unless --force),
so a rerun only recomputes what derives from them.
"""

import argparse
import json
import os
import sys

from handoverkey.crypto import host
from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.send import cga_gen

from .world import FIXED_WALL_S, LINK_LOCAL_PREFIX, NAR_PREFIX, PAR_PREFIX, Plan, addr, mobile_config, router_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "engine")

# Starting modifiers of the extra CGAs of mobile_1024's key: fixed, so reruns give the same addresses.
_MN1_CGA_MODIFIERS = (b"\x01" * 16, b"\x02" * 16, b"\x03" * 16)


def _cga(spki, prefix, modifier):
    a, params = cga_gen.cga_generate(spki, addr(prefix)[:8], sec=1, modifier=modifier)
    return a, params


def _key(previous, name, bits, e=65537):
    der = previous.get(name)
    if der is not None:
        return RsaPrivateKey.from_pkcs8(bytes.fromhex(der))
    return host.generate_rsa(bits, e) if e == 65537 else _generate_e(bits, e)


def _generate_e(bits, e):
    from cryptography.hazmat.primitives.asymmetric import rsa

    obj = rsa.generate_private_key(public_exponent=e, key_size=bits)
    nums = obj.private_numbers()
    return RsaPrivateKey(nums.public_numbers.n, nums.public_numbers.e, nums.d, nums.p, nums.q)


def build(previous=None):
    """The four fixture documents as {file name: dict}; `previous` is an old extra.json to keep keys from."""
    previous = previous or {}
    keys = previous.get("_keys", {})
    plan_1024 = Plan(key_bits=1024)
    plan_2048 = Plan(key_bits=2048)
    router = router_config("PAR", plan_1024)
    nar = router_config("NAR", plan_1024)
    mobile_1024 = mobile_config(plan_1024)
    mobile_2048 = mobile_config(plan_2048)

    mn2_cga = _key(keys, "mn2_cga", 1024)
    mn2_hke = _key(keys, "mn2_hke", 1024)
    e3 = _key(keys, "hke_e3", 1024, e=3)
    spki = mn2_cga.public.spki()
    start = bytes(15) + b"\x2a"
    pcoa, params = _cga(spki, PAR_PREFIX, start)
    ncoa, _ = _cga(spki, NAR_PREFIX, start)
    ll, _ = _cga(spki, LINK_LOCAL_PREFIX, start)
    mn1_key = RsaPrivateKey.from_pkcs8(bytes.fromhex(mobile_1024["cga_key"]))
    mn1_cgas = []
    for m in _MN1_CGA_MODIFIERS:
        a, p = _cga(mn1_key.public.spki(), PAR_PREFIX, m)
        if a.hex() != mobile_1024["pcoa"] and [a.hex(), p.hex()] not in mn1_cgas:
            mn1_cgas.append([a.hex(), p.hex()])
    extra = {
        "_comment": "made by python -m hostsim.engine_fixtures; see that module",
        "wall_s": FIXED_WALL_S,
        "mn2": {
            "cga_key": mn2_cga.pkcs8().hex(),
            "pcoa": pcoa.hex(),
            "pcoa_params": params.hex(),
            "ncoa": ncoa.hex(),
            "link_local": ll.hex(),
            "hke_keys": [mn2_hke.pkcs8().hex()],
        },
        "mn1_cgas": mn1_cgas,
        "hke_e3_spki": e3.public.spki().hex(),
        "_keys": {"mn2_cga": mn2_cga.pkcs8().hex(), "mn2_hke": mn2_hke.pkcs8().hex(), "hke_e3": e3.pkcs8().hex()},
    }
    return {
        "router_par.json": router,
        "router_nar.json": nar,
        "mobile_1024.json": mobile_1024,
        "mobile_2048.json": mobile_2048,
        "extra.json": extra,
    }


def write(force=False, out=sys.stdout):
    os.makedirs(OUT_DIR, exist_ok=True)
    extra_path = os.path.join(OUT_DIR, "extra.json")
    previous = None
    if os.path.exists(extra_path) and not force:
        with open(extra_path) as f:
            previous = json.load(f)
    docs = build(previous)
    for name in sorted(docs):
        path = os.path.join(OUT_DIR, name)
        with open(path, "w") as f:
            json.dump(docs[name], f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote", os.path.relpath(path, ROOT), file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hostsim.engine_fixtures", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="generate new keys for extra.json too")
    args = parser.parse_args(argv)
    write(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
