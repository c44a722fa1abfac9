"""Engine configuration: a JSON-shaped dict (hex strings for bytes) -> a Router or a MobileNode.

The same dict drives the engine in-process on CPython, inside MicroPython over a pipe, on a
board, and in the daemon, so one scenario means the same thing on every target.
"""

from . import algorithms
from .crypto.rsakey import RsaPrivateKey
from .errors import CryptoError, DecodeError, EncodeError

ROUTER_KEYS = (
    "key", "link_local", "cga_params", "address", "cert_path", "anchor_names",
    "lla", "ats", "hk_lifetime", "table_capacity", "neighbors", "min_bits", "key_protect",
    "rtsolpr_rate", "rtsolpr_burst", "source_rate", "source_burst",
)
MOBILE_KEYS = (
    "cga_key", "pcoa", "pcoa_params", "ncoa", "link_local", "trust_anchors", "router_address",
    "lla", "target_ap", "preferred_at", "ats", "hke_keys", "hkepk_lifetime", "hkepk_handovers",
    "fbu_lifetime", "keylog", "min_bits",
)


class ConfigError(EncodeError):
    """The configuration is missing something or holds a value of the wrong form."""


def _get(cfg, name, required=True, default=None):
    if name in cfg:
        return cfg[name]
    if required:
        raise ConfigError("missing config key: " + name)
    return default


def _hex(cfg, name, length=None, required=True):
    v = _get(cfg, name, required)
    if v is None:
        if required:
            raise ConfigError("config key %s: null" % name)
        return None
    try:
        b = bytes.fromhex(v)
    except (ValueError, TypeError):
        raise ConfigError("config key %s: not a hex string" % name)
    if length is not None and len(b) != length:
        raise ConfigError("config key %s: expected %d octets" % (name, length))
    return b


def _hex_list(cfg, name, required=True):
    v = _get(cfg, name, required, [])
    if not isinstance(v, list):
        raise ConfigError("config key %s: expected a list" % name)
    out = []
    for x in v:
        try:
            out.append(bytes.fromhex(x))
        except (ValueError, TypeError):
            raise ConfigError("config key %s: not a list of hex strings" % name)
    return out


def _int(cfg, name, default, lo, hi):
    v = _get(cfg, name, False, default)
    if type(v) is not int or v < lo or v > hi:
        raise ConfigError("config key %s: expected an integer %d..%d" % (name, lo, hi))
    return v


def _list(cfg, name):
    v = _get(cfg, name, False, [])
    if not isinstance(v, list):
        raise ConfigError("config key %s: expected a list" % name)
    return v


def _ats(cfg, name):
    v = _get(cfg, name, False, [0, 1])
    if not isinstance(v, list) or not v:
        raise ConfigError("config key %s: expected a non-empty list of ATs" % name)
    for at in v:
        if not algorithms.is_supported(at):
            raise ConfigError("config key %s: an AT that is not in the registry" % name)
    return tuple(v)


def _bool(cfg, name, default):
    v = _get(cfg, name, False, default)
    if type(v) is not bool:
        raise ConfigError("config key %s: expected true or false" % name)
    return v


def _private_key(der, name):
    try:
        return RsaPrivateKey.from_pkcs8(der)
    except CryptoError:
        raise ConfigError("config key %s: not an RSA private key (PKCS#8 DER)" % name)


def _check_names(cfg, allowed):
    for k in cfg:
        if k not in allowed and k != "role" and not k.startswith("_"):
            raise ConfigError("unknown config key: " + k)


def build_router(cfg):
    from .router import Router, Neighbor

    _check_names(cfg, ROUTER_KEYS)
    neighbors = []
    for n in _list(cfg, "neighbors"):
        if not isinstance(n, dict):
            raise ConfigError("config key neighbors: expected a list of objects")
        neighbors.append(
            Neighbor(
                _hex(n, "ap_lla"), _hex(n, "nar_lla"), _hex(n, "nar_address", 16),
                _hex(n, "nar_prefix", 16), _int(n, "prefix_len", 64, 0, 128),
            )
        )
    return Router(
        _private_key(_hex(cfg, "key"), "key"),
        _hex(cfg, "link_local", 16),
        _hex(cfg, "cga_params"),
        _hex(cfg, "address", 16),
        _hex_list(cfg, "cert_path"),
        _hex_list(cfg, "anchor_names"),
        lla=_hex(cfg, "lla", required=False),
        ats=_ats(cfg, "ats"),
        hk_lifetime_s=_int(cfg, "hk_lifetime", 43200, 1, 65535),
        table_capacity=_int(cfg, "table_capacity", 256, 1, 65535),
        neighbors=neighbors,
        min_bits=_int(cfg, "min_bits", 1024, 512, 4096),
        key_protect_s=_int(cfg, "key_protect", 600, 0, 86400),
        rtsolpr_rate=_int(cfg, "rtsolpr_rate", 50, 0, 100000),
        rtsolpr_burst=_int(cfg, "rtsolpr_burst", 50, 1, 100000),
        source_rate=_int(cfg, "source_rate", 2, 0, 100000),
        source_burst=_int(cfg, "source_burst", 16, 1, 100000),
    )


def build_mobile(cfg):
    from .mobile import MobileNode
    from .send.certpath import TrustAnchor

    _check_names(cfg, MOBILE_KEYS)
    anchors = _hex_list(cfg, "trust_anchors")
    if not anchors:
        raise ConfigError("config key trust_anchors: at least one SEND trust anchor is required")
    for a in anchors:
        try:
            TrustAnchor.from_certificate(a)
        except DecodeError:
            raise ConfigError("config key trust_anchors: not a DER X.509 certificate")
    hke = [_private_key(d, "hke_keys") for d in _hex_list(cfg, "hke_keys", False)]
    ats = _ats(cfg, "ats")
    preferred = _int(cfg, "preferred_at", 1, 0, 15)
    if preferred not in ats:
        raise ConfigError("config key preferred_at: must be one of ats")
    return MobileNode(
        _private_key(_hex(cfg, "cga_key"), "cga_key"),
        _hex(cfg, "pcoa", 16),
        _hex(cfg, "pcoa_params"),
        _hex(cfg, "ncoa", 16),
        _hex(cfg, "link_local", 16),
        anchors,
        _hex(cfg, "router_address", 16),
        lla=_hex(cfg, "lla", required=False),
        target_ap=_hex(cfg, "target_ap", required=False),
        preferred_at=preferred,
        ats=ats,
        hke_keys=hke,
        hkepk_lifetime_s=_int(cfg, "hkepk_lifetime", 43200, 1, 10 * 86400),
        hkepk_handovers=_int(cfg, "hkepk_handovers", 10, 1, 1000),
        fbu_lifetime_s=_int(cfg, "fbu_lifetime", 30, 0, 65535),
        keylog=_bool(cfg, "keylog", False),
        min_bits=_int(cfg, "min_bits", 1024, 512, 4096),
    )


def build_engine(role, cfg):
    if not isinstance(cfg, dict):
        raise ConfigError("config must be a JSON object")
    if role == "router":
        return build_router(cfg)
    if role == "mobile":
        return build_mobile(cfg)
    raise ConfigError("role must be router or mobile")
