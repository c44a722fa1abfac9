"""RSA keys for tests and the simulator: generate, save and load DER PKCS#8 files (CPython only).

`python -m hostsim.keys` writes the committed fixture keys under tests/fixtures/keys/; files
that already exist are kept unless --force is given, because tests may pin values derived
from them.
"""

import argparse
import os
import sys

from handoverkey.crypto import host
from handoverkey.crypto.rsakey import RsaPrivateKey, RsaPublicKey

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE_DIR = os.path.join(ROOT, "tests", "fixtures", "keys")

# (name, bits): three keys of each size so tests can pick a signer, a verifier and a stranger.
FIXTURE_KEYS = (
    ("rsa1024_a", 1024),
    ("rsa1024_b", 1024),
    ("rsa1024_c", 1024),
    ("rsa2048_a", 2048),
    ("rsa2048_b", 2048),
    ("rsa2048_c", 2048),
)

# RFC 3972 Appendix A public key (a 512-bit CGA test vector), as reproduced in
# shared/spec/protocol-digest.md §4.4.
RFC3972_APP_A_SPKI_HEX = (
    "305c300d06092a864886f70d0101010500034b003048024100c2c2f137305454f10bd9cea36844b530e9211a4b"
    "262b16467cb7dfba1f595c0194f275be5a4d386f2c3c2382508773c7867f9b3b9e63a09c7bc48f7a54ebefaf02"
    "03010001"
)
RFC3972_APP_A_NAME = "rfc3972_app_a"


def generate(bits=2048, e=65537):
    """A fresh RsaPrivateKey made by `cryptography` (OpenSSL's generator)."""
    return host.generate_rsa(bits, e)


def save_private(key, path):
    """Write key as DER PKCS#8."""
    with open(path, "wb") as f:
        f.write(key.pkcs8())


def load_private(path):
    """Read a DER PKCS#8 (or bare PKCS#1) RSA private key file."""
    with open(path, "rb") as f:
        return RsaPrivateKey.from_pkcs8(f.read())


def load_public(path):
    """Read a DER SubjectPublicKeyInfo file."""
    with open(path, "rb") as f:
        return RsaPublicKey.from_spki(f.read())


def fixture_path(name, ext="pk8"):
    return os.path.join(FIXTURE_DIR, name + "." + ext)


def load_fixture(name):
    """A committed fixture private key by name, e.g. load_fixture("rsa2048_a")."""
    return load_private(fixture_path(name))


def _check_with_cryptography(der):
    # The files must load in an independent implementation, not only in ours.
    from cryptography.hazmat.primitives.serialization import load_der_private_key

    load_der_private_key(der, password=None)


def write_fixtures(force=False, out=sys.stdout):
    """Create the fixture files that are missing (all of them with force); return the paths written."""
    os.makedirs(FIXTURE_DIR, exist_ok=True)
    written = []
    for name, bits in FIXTURE_KEYS:
        path = fixture_path(name)
        if os.path.exists(path) and not force:
            continue
        key = generate(bits)
        der = key.pkcs8()
        _check_with_cryptography(der)
        if RsaPrivateKey.from_pkcs8(der) != key:
            raise RuntimeError("PKCS#8 round trip failed for " + name)
        with open(path, "wb") as f:
            f.write(der)
        written.append(path)
    path = fixture_path(RFC3972_APP_A_NAME, "spki")
    if force or not os.path.exists(path):
        der = bytes.fromhex(RFC3972_APP_A_SPKI_HEX)
        RsaPublicKey.from_spki(der)
        with open(path, "wb") as f:
            f.write(der)
        written.append(path)
    for p in written:
        print("wrote", os.path.relpath(p, ROOT), file=out)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m hostsim.keys", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="regenerate files that already exist")
    args = parser.parse_args(argv)
    write_fixtures(force=args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
