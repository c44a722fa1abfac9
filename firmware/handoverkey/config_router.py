"""The router's configuration keys and builder (config.build_engine(\"router\", cfg))."""

from .config import ConfigError, ats_list, check_names, hex_bytes, hex_list, int_in, list_of, private_key

ROUTER_KEYS = (
    "key", "link_local", "cga_params", "address", "cert_path", "anchor_names",
    "lla", "ats", "hk_lifetime", "table_capacity", "neighbors", "min_bits", "key_protect",
    "rtsolpr_rate", "rtsolpr_burst", "source_rate", "source_burst",
)


def build_router(cfg):
    from .router import Router, Neighbor

    check_names(cfg, ROUTER_KEYS)
    neighbors = []
    for n in list_of(cfg, "neighbors"):
        if not isinstance(n, dict):
            raise ConfigError("config key neighbors: not objects")
        neighbors.append(
            Neighbor(
                hex_bytes(n, "ap_lla"), hex_bytes(n, "nar_lla"), hex_bytes(n, "nar_address", 16),
                hex_bytes(n, "nar_prefix", 16), int_in(n, "prefix_len", 64, 0, 128),
            )
        )
    return Router(
        private_key(hex_bytes(cfg, "key"), "key"),
        hex_bytes(cfg, "link_local", 16),
        hex_bytes(cfg, "cga_params"),
        hex_bytes(cfg, "address", 16),
        hex_list(cfg, "cert_path"),
        hex_list(cfg, "anchor_names"),
        lla=hex_bytes(cfg, "lla", required=False),
        ats=ats_list(cfg, "ats"),
        hk_lifetime_s=int_in(cfg, "hk_lifetime", 43200, 1, 65535),
        table_capacity=int_in(cfg, "table_capacity", 256, 1, 65535),
        neighbors=neighbors,
        min_bits=int_in(cfg, "min_bits", 1024, 512, 4096),
        key_protect_s=int_in(cfg, "key_protect", 600, 0, 86400),
        rtsolpr_rate=int_in(cfg, "rtsolpr_rate", 50, 0, 100000),
        rtsolpr_burst=int_in(cfg, "rtsolpr_burst", 50, 1, 100000),
        source_rate=int_in(cfg, "source_rate", 2, 0, 100000),
        source_burst=int_in(cfg, "source_burst", 16, 1, 100000),
    )
