"""The mobile node's configuration keys and builder (config.build_engine(\"mobile\", cfg))."""

from .config import ConfigError, ats_list, boolean, check_names, hex_bytes, hex_list, int_in, private_key
from .errors import DecodeError

MOBILE_KEYS = (
    "cga_key", "pcoa", "pcoa_params", "ncoa", "link_local", "trust_anchors", "router_address",
    "lla", "target_ap", "preferred_at", "ats", "hke_keys", "hkepk_lifetime", "hkepk_handovers",
    "fbu_lifetime", "keylog", "min_bits",
)


def build_mobile(cfg):
    from .mobile import MobileNode
    from .send.certpath import TrustAnchor

    check_names(cfg, MOBILE_KEYS)
    anchors = hex_list(cfg, "trust_anchors")
    if not anchors:
        raise ConfigError("config key trust_anchors: none")
    for a in anchors:
        try:
            TrustAnchor.from_certificate(a)
        except DecodeError:
            raise ConfigError("config key trust_anchors: not a certificate")
    hke = [private_key(d, "hke_keys") for d in hex_list(cfg, "hke_keys", False)]
    ats = ats_list(cfg, "ats")
    preferred = int_in(cfg, "preferred_at", 1, 0, 15)
    if preferred not in ats:
        raise ConfigError("config key preferred_at: not in ats")
    return MobileNode(
        private_key(hex_bytes(cfg, "cga_key"), "cga_key"),
        hex_bytes(cfg, "pcoa", 16),
        hex_bytes(cfg, "pcoa_params"),
        hex_bytes(cfg, "ncoa", 16),
        hex_bytes(cfg, "link_local", 16),
        anchors,
        hex_bytes(cfg, "router_address", 16),
        lla=hex_bytes(cfg, "lla", required=False),
        target_ap=hex_bytes(cfg, "target_ap", required=False),
        preferred_at=preferred,
        ats=ats,
        hke_keys=hke,
        hkepk_lifetime_s=int_in(cfg, "hkepk_lifetime", 43200, 1, 10 * 86400),
        hkepk_handovers=int_in(cfg, "hkepk_handovers", 10, 1, 1000),
        fbu_lifetime_s=int_in(cfg, "fbu_lifetime", 30, 0, 65535),
        keylog=boolean(cfg, "keylog", False),
        min_bits=int_in(cfg, "min_bits", 1024, 512, 4096),
    )
