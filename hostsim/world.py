"""The simulated world of the demo and the attacks: PAR, NAR and a mobile node, their keys, CGAs and PKI.

Everything comes from committed fixtures (keys, certificates) plus CGAs computed once per
process from fixed starting modifiers, so a scenario is reproducible and costs no key
generation. Engines are built from JSON configs, the same ones a device would get.
"""

import functools
import ipaddress
import os
import time

from handoverkey.crypto.rsakey import RsaPrivateKey
from handoverkey.send import cga_gen, x509

from .sim import Network, Node
from .targets import make_engine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = os.path.join(ROOT, "tests", "fixtures", "keys")
PKI = os.path.join(ROOT, "tests", "fixtures", "pki")

# Inside every certificate's validity (2026-01-01 .. 2036-01-01): 2027-06-01T00:00:00Z.
FIXED_WALL_S = 1811808000

PAR_PREFIX = "2001:db8:1::"
NAR_PREFIX = "2001:db8:2::"
LINK_LOCAL_PREFIX = "fe80::"
PAR_ADDRESS = "2001:db8:1::1"
NAR_ADDRESS = "2001:db8:2::1"
PAR_LLA = bytes.fromhex("02000000a001")
NAR_LLA = bytes.fromhex("02000000b001")
PAR_AP = bytes.fromhex("02000000a0ff")
NAR_AP = bytes.fromhex("02000000b0ff")
MN_LLA = bytes.fromhex("020000000c01")

# Which fixture keys play which part, by key size of the mobile node.
MN_KEYS = {1024: ("rsa1024_a", "rsa1024_b", "rsa1024_c"), 2048: ("rsa2048_d", "rsa2048_e", "rsa2048_f")}


def addr(text):
    return ipaddress.IPv6Address(text).packed


def read(path):
    with open(path, "rb") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def private_key(name):
    return RsaPrivateKey.from_pkcs8(read(os.path.join(KEYS, name + ".pk8")))


@functools.lru_cache(maxsize=None)
def make_cga(key_name, prefix, sec=1):
    """(address, params) of a key's CGA on a /64, from a fixed starting modifier (reproducible)."""
    spki = private_key(key_name).public.spki()
    start = bytes(15) + bytes([len(prefix) & 0xFF])
    return cga_gen.cga_generate(spki, addr(prefix)[:8], sec=sec, modifier=start)


def cert(name):
    return read(os.path.join(PKI, name + ".der"))


def subject_name(cert_der):
    return bytes(x509.parse(cert_der).subject)


class Plan:
    """The parameters of one scenario run."""

    def __init__(self, key_bits=2048, at=1, mode="predictive", router_target="cpython", mobile_target="cpython",
                 keylog=False, wall_start=FIXED_WALL_S, hk_lifetime=43200, table_capacity=256, router_extra=None,
                 board_port=None, mobile_cfg=None):
        if key_bits not in MN_KEYS:
            raise ValueError("key bits must be one of %s" % sorted(MN_KEYS))
        self.key_bits = key_bits
        self.at = at
        self.mode = mode
        self.router_target = router_target
        self.mobile_target = mobile_target
        self.keylog = keylog
        self.wall_start = wall_start
        self.hk_lifetime = hk_lifetime
        self.table_capacity = table_capacity
        self.router_extra = dict(router_extra or {})  # more router config keys (e.g. rate limits)
        self.board_port = board_port  # where the "board" target is: mpremote's device name
        self.mobile_cfg = mobile_cfg  # the mobile node's config, when not the fixture one (own keys)


def router_config(name, plan):
    """Config of the PAR (cert path intermediate -> router) or the NAR (anchor -> router)."""
    anchor = cert("anchor")
    if name == "PAR":
        key_name, path, address, lla = "rsa2048_b", [cert("intermediate"), cert("router_par")], PAR_ADDRESS, PAR_LLA
        neighbors = [{"ap_lla": NAR_AP.hex(), "nar_lla": NAR_LLA.hex(), "nar_address": addr(NAR_ADDRESS).hex(),
                      "nar_prefix": addr(NAR_PREFIX).hex(), "prefix_len": 64}]
    else:
        key_name, path, address, lla = "rsa2048_c", [cert("router_nar")], NAR_ADDRESS, NAR_LLA
        neighbors = [{"ap_lla": PAR_AP.hex(), "nar_lla": PAR_LLA.hex(), "nar_address": addr(PAR_ADDRESS).hex(),
                      "nar_prefix": addr(PAR_PREFIX).hex(), "prefix_len": 64}]
    ll, params = make_cga(key_name, LINK_LOCAL_PREFIX)
    return {
        "key": read(os.path.join(KEYS, key_name + ".pk8")).hex(),
        "link_local": ll.hex(),
        "cga_params": params.hex(),
        "address": addr(address).hex(),
        "cert_path": [c.hex() for c in path],
        "anchor_names": [subject_name(anchor).hex()],
        "lla": lla.hex(),
        "ats": [0, 1],
        "hk_lifetime": plan.hk_lifetime,
        "table_capacity": plan.table_capacity,
        "neighbors": neighbors,
        **plan.router_extra,
    }


def mobile_config(plan, preferred_at=None):
    cga_name, hke_name, hke_next = MN_KEYS[plan.key_bits]
    pcoa, pcoa_params = make_cga(cga_name, PAR_PREFIX)
    ncoa, _ = make_cga(cga_name, NAR_PREFIX)
    ll, _ = make_cga(cga_name, LINK_LOCAL_PREFIX)
    return {
        "cga_key": read(os.path.join(KEYS, cga_name + ".pk8")).hex(),
        "pcoa": pcoa.hex(),
        "pcoa_params": pcoa_params.hex(),
        "ncoa": ncoa.hex(),
        "link_local": ll.hex(),
        "trust_anchors": [cert("anchor").hex()],
        "router_address": addr(PAR_ADDRESS).hex(),
        "lla": MN_LLA.hex(),
        "target_ap": NAR_AP.hex(),
        "preferred_at": plan.at if preferred_at is None else preferred_at,
        "ats": [0, 1],
        "hke_keys": [read(os.path.join(KEYS, n + ".pk8")).hex() for n in (hke_name, hke_next)],
        "keylog": plan.keylog,
    }


class World:
    """PAR on par-link, NAR on nar-link, the mobile node attached to par-link."""

    def __init__(self, plan):
        self.plan = plan
        self.net = Network(plan.wall_start)
        self.par_cfg = router_config("PAR", plan)
        self.nar_cfg = router_config("NAR", plan)
        self.mn_cfg = dict(plan.mobile_cfg) if plan.mobile_cfg else mobile_config(plan)
        self.mn_cfg.pop("role", None)
        self.par_ll = bytes.fromhex(self.par_cfg["link_local"])
        self.par_address = addr(PAR_ADDRESS)
        self.nar_address = addr(NAR_ADDRESS)
        self.pcoa = bytes.fromhex(self.mn_cfg["pcoa"])
        self.ncoa = bytes.fromhex(self.mn_cfg["ncoa"])
        self.mn_ll = bytes.fromhex(self.mn_cfg["link_local"])
        self.engines = []
        par = self._engine(plan.router_target, "router", self.par_cfg)
        nar = self._engine(plan.router_target, "router", self.nar_cfg)
        mn = self._engine(plan.mobile_target, "mobile", self.mn_cfg)
        self.net.add_node(Node("PAR", par, "par-link", [self.par_ll, self.par_address], is_router=True))
        self.net.add_node(Node("NAR", nar, "nar-link", [bytes.fromhex(self.nar_cfg["link_local"]), self.nar_address],
                               is_router=True))
        self.net.add_node(Node("MN", mn, "par-link", [self.pcoa, self.mn_ll]))

    def _engine(self, target, role, cfg):
        e = make_engine(target, role, cfg, port=self.plan.board_port)
        self.engines.append(e)
        return e

    def close(self):
        for e in self.engines:
            e.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the steps of a handover --

    def attach(self):
        self.net.call("MN", "attach")
        self.net.run(max_ms=30000)
        return self.has_event("MN", "key-stored")

    def move_to_nar(self):
        self.net.move("MN", "nar-link", [self.ncoa, self.pcoa, self.mn_ll])

    def handover(self, mode=None):
        mode = mode or self.plan.mode
        if mode == "predictive":
            self.net.call("MN", "move", "predictive")
            # The FBU leaves on the PAR's link; then the interface moves.
            self.net.run(max_ms=1)
            self.move_to_nar()
            self.net.call("MN", "arrived")
        else:
            self.move_to_nar()
            self.net.call("MN", "move", "reactive")
        self.net.run(max_ms=10000)
        return self.has_event("PAR", "fbu-accepted")

    def has_event(self, node, kind):
        return bool(self.net.events(node, kind))

    def keylog_lines(self):
        return [f["line"] for _, kind, f in self.net.events("MN", "keylog")]


def wall_now():
    return int(time.time())
