"""Fixture RSA keys for the dual tests, loaded from tests/fixtures/keys and kept once loaded."""

from dualtest import read_fixture
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey

_cache = {}


def load_private(name):
    """A committed private key by name, e.g. load_private("rsa2048_a")."""
    key = _cache.get(name)
    if key is None:
        key = RsaPrivateKey.from_pkcs8(read_fixture("keys/" + name + ".pk8"))
        _cache[name] = key
    return key


def load_public(name):
    """The public key of a committed private key, or a committed .spki file (e.g. "rfc3972_app_a")."""
    if name.startswith("rsa"):
        return load_private(name).public
    return RsaPublicKey.from_spki(read_fixture("keys/" + name + ".spki"))


def private_der(name):
    return read_fixture("keys/" + name + ".pk8")


def spki_der(name):
    return read_fixture("keys/" + name + ".spki")
