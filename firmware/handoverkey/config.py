"""Engine configuration: a JSON-shaped dict (hex strings for bytes) -> a Router or a MobileNode.

The same dict drives the engine in-process on CPython, inside MicroPython over a pipe, on a
board, and in the daemon, so one scenario means the same thing on every target. This module
holds the field readers and build_engine; each role's keys and builder are in config_router.py
and config_mobile.py, so a device loads only its own.
"""

from . import algorithms
from .crypto.rsakey import RsaPrivateKey
from .errors import CryptoError, EncodeError


class ConfigError(EncodeError):
    """The configuration is missing something or holds a value of the wrong form."""


def get(cfg, name, required=True, default=None):
    """cfg[name]; when absent, ConfigError if required, else default."""
    if name in cfg:
        return cfg[name]
    if required:
        raise ConfigError("missing config key: " + name)
    return default


def hex_bytes(cfg, name, length=None, required=True):
    """A hex string field as bytes, of exactly `length` octets when given (None if optional and absent)."""
    v = get(cfg, name, required)
    if v is None:
        if required:
            raise ConfigError("config key %s: null" % name)
        return None
    try:
        b = bytes.fromhex(v)
    except (ValueError, TypeError):
        raise ConfigError("config key %s: not a hex string" % name)
    if length is not None and len(b) != length:
        raise ConfigError("config key %s: not %d octets" % (name, length))
    return b


def hex_list(cfg, name, required=True):
    """A list of hex strings as a list of bytes."""
    v = get(cfg, name, required, [])
    if not isinstance(v, list):
        raise ConfigError("config key %s: not a list" % name)
    out = []
    for x in v:
        try:
            out.append(bytes.fromhex(x))
        except (ValueError, TypeError):
            raise ConfigError("config key %s: not hex strings" % name)
    return out


def int_in(cfg, name, default, lo, hi):
    """An integer field in lo..hi, default when absent."""
    v = get(cfg, name, False, default)
    if type(v) is not int or v < lo or v > hi:
        raise ConfigError("config key %s: not an int %d..%d" % (name, lo, hi))
    return v


def list_of(cfg, name):
    """A list field, [] when absent."""
    v = get(cfg, name, False, [])
    if not isinstance(v, list):
        raise ConfigError("config key %s: not a list" % name)
    return v


def ats_list(cfg, name):
    """A non-empty list of registered ATs, as a tuple ([0, 1] when absent)."""
    v = get(cfg, name, False, [0, 1])
    if not isinstance(v, list) or not v:
        raise ConfigError("config key %s: no ATs" % name)
    for at in v:
        if not algorithms.is_supported(at):
            raise ConfigError("config key %s: unknown AT" % name)
    return tuple(v)


def boolean(cfg, name, default):
    """A true/false field, default when absent."""
    v = get(cfg, name, False, default)
    if type(v) is not bool:
        raise ConfigError("config key %s: not a bool" % name)
    return v


def private_key(der, name):
    """The RsaPrivateKey in PKCS#8 (or PKCS#1) DER of field `name`."""
    try:
        return RsaPrivateKey.from_pkcs8(der)
    except CryptoError:
        raise ConfigError("config key %s: not a PKCS#8 RSA key" % name)


def check_names(cfg, allowed):
    """ConfigError for a key outside `allowed` (besides "role" and "_"-prefixed comments)."""
    for k in cfg:
        if k not in allowed and k != "role" and not k.startswith("_"):
            raise ConfigError("unknown config key: " + k)


def build_engine(role, cfg):
    """A Router (role "router") or MobileNode ("mobile") from its config dict."""
    if not isinstance(cfg, dict):
        raise ConfigError("config must be a JSON object")
    try:
        if role == "router":
            from .config_router import build_router

            return build_router(cfg)
        if role == "mobile":
            from .config_mobile import build_mobile

            return build_mobile(cfg)
    except ConfigError:
        raise
    except EncodeError as e:
        # A value every per-key check let through that the engine itself refuses (a path whose
        # CPA, or keys whose RtSolPr, would not fit; a certificate that is not one DER value):
        # still a wrong configuration, and reported as one.
        raise ConfigError(e.msg or "a value the engine refused")
    raise ConfigError("role must be router or mobile")
