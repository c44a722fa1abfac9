"""On-device self-test: the platform features the protocol needs, then (optionally) a config's keys.

    import handoverkey.selftest as t; t.run()        # the platform only
    t.run("hk.json")                                 # also the engine and keys of that config
    micropython -m handoverkey.selftest [CONFIG.json]

One line per check ("ok NAME" / "FAIL NAME: why"), then a last line that starts with
"PASS handoverkey selftest" or "FAIL handoverkey selftest". run() returns True only when
every check passed; the command exits 0 then and 1 otherwise. A board should refuse to start
its engine when this fails (fail closed: no SHA-1 means no SEND, no os.urandom means no keys).

Checks: SHA-1 and SHA-256 known answers ("abc"), HMAC-SHA1/-SHA256 (RFC 2202/4231 case 2),
os.urandom, AES-CBC through cryptolib when this image has crypto.aes (the router's key
store), RSA with a built-in 512-bit key (a signature known answer, sign/verify, encrypt/
decrypt), an IPv6 + ICMPv6 CPS encode/decode round trip with its checksum, and with a config:
the engine builds and every private key in it signs and verifies (router "key", mobile
"cga_key" and each "hke_keys" entry). Daemon keys in the config are ignored here.

The built-in key is a public test vector, used for nothing but this test.
"""

import sys

# 512-bit test key (PKCS#8 DER), and its RSASSA-PKCS1-v1_5/SHA-1 signature of _MSG computed
# independently on the host (plain pow over the RFC 8017 encoding, checked by `cryptography`).
_KEY = (
    b"\x30\x82\x01\x54\x02\x01\x00\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00\x04\x82"
    b"\x01\x3e\x30\x82\x01\x3a\x02\x01\x00\x02\x41\x00\xbf\x6e\x83\xf4\x90\xb7\xd3\x93\x04\x98\x37\x4e"
    b"\x18\xab\xb9\x53\xbf\xed\x08\xde\x6d\xb4\xde\x7a\x88\x6c\xe1\xc8\x28\x67\x5c\x0e\x0f\x02\x00\x2c"
    b"\x77\x59\x21\x94\xce\x9b\xe2\x0a\x27\xd0\xe5\xfc\x25\xaf\xee\x08\xac\xcf\xbe\x9b\xc6\xe8\xd4\x0a"
    b"\x1f\x6e\xa9\xd9\x02\x03\x01\x00\x01\x02\x40\x06\xdb\x4b\x21\xe9\x84\x92\x11\x12\x21\x2f\x1a\xee"
    b"\x9e\x88\xfd\xef\x52\x0a\xc7\x27\xc4\x0a\x93\x76\x3b\x3b\x27\x8f\x8d\xeb\x31\xbc\x38\x18\xa5\x82"
    b"\x97\x8e\x38\xed\xbb\x36\x01\xc5\xeb\x41\x6a\xab\xe3\x25\xe4\x19\xf1\x61\x41\x57\xd4\xc9\x5f\x45"
    b"\xce\x19\x91\x02\x21\x00\xfc\x8b\xd8\xfe\xe5\xf8\xeb\xc0\x46\xef\xcf\x91\x45\xda\x25\x2b\xea\xbc"
    b"\x4b\x6e\x69\x82\x2a\xfe\xff\x78\x4e\xb9\x3e\x94\xa5\x71\x02\x21\x00\xc2\x0c\xb5\x67\xc0\x66\x60"
    b"\xef\xe5\x1b\x22\xa7\xc9\x22\xed\x0b\x5c\x70\x45\x90\x04\x14\x26\x4c\x61\x58\xdc\x3a\x8b\x02\x76"
    b"\xe9\x02\x20\x0e\x64\x8d\xf6\x60\xf6\xe1\xc0\xb0\x8a\x44\x43\x1c\x3f\x05\x75\x4e\x48\x72\xe8\x14"
    b"\xfd\x45\x24\x09\x3d\x3b\x07\x55\xa8\xb5\x11\x02\x20\x48\xe8\xdd\x80\x0e\x1a\x69\x71\xb9\x73\x68"
    b"\xa2\x02\x40\xcd\x2f\xe7\x9b\x87\x87\x85\x00\xcd\x23\x05\xb0\x8d\x8e\xb1\x8c\x4b\x81\x02\x21\x00"
    b"\xb0\x5b\xd6\xb7\xac\x7d\xef\x1f\x42\x61\x39\x6b\x7b\xba\x78\x79\xac\x0f\xd1\x97\xe6\x13\x23\x61"
    b"\x04\xe7\x9f\x7c\xe0\xb0\x5f\xa1"
)
_MSG = b"handoverkey selftest"
_SIG = (
    b"\xa7\x5e\x5e\xa8\x62\x48\x63\xfe\x1a\xc4\xf6\x34\xf3\xd9\xc3\x03\x9f\xc7\xbd\x7e\xbe\xb4\x44\x8e"
    b"\xc5\x01\x83\x81\xc4\xda\x01\x08\x01\x43\x6c\x7d\xc1\x51\xaf\xd0\xc0\x77\xe6\x12\x99\xe9\x7a\x50"
    b"\x44\xf9\x8f\x6b\x41\x32\xd4\x6e\xe0\x87\x65\x74\xe9\x7e\x81\xca"
)


class _Failed(Exception):
    pass


def _check(cond, why):
    if not cond:
        raise _Failed(why)


def _hashes():
    import hashlib

    _check(hasattr(hashlib, "sha1"), "hashlib has no sha1 (a build without SSL?)")
    _check(hasattr(hashlib, "sha256"), "hashlib has no sha256")
    _check(hashlib.sha1(b"abc").digest().hex() == "a9993e364706816aba3e25717850c26c9cd0d89d", "sha1")
    _check(
        hashlib.sha256(b"abc").digest().hex()
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256",
    )


def _hmac():
    from . import crypto

    msg = b"what do ya want for nothing?"
    _check(crypto.hmac_sha1(b"Jefe", msg).hex() == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", "hmac-sha1")
    _check(
        crypto.hmac_sha256(b"Jefe", msg).hex()
        == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        "hmac-sha256",
    )


def _urandom():
    import os

    _check(hasattr(os, "urandom"), "os.urandom missing: no key material on this board")
    a = os.urandom(16)
    b = os.urandom(16)
    _check(len(a) == 16 and len(b) == 16, "os.urandom length")
    _check(a != b, "os.urandom repeated itself")


def _aes():
    """None when this image has no crypto.aes (the mobile node does not use it)."""
    try:
        from .crypto import aes
    except ImportError:
        return "not in this image"
    key = bytes(range(16))
    iv = bytes(range(16, 32))
    data = bytes(range(48))
    enc = aes.cbc_encrypt(key, iv, data)
    _check(len(enc) == len(data) and enc != data, "aes-cbc encrypt")
    _check(bytes(aes.cbc_decrypt(key, iv, enc)) == data, "aes-cbc round trip")
    return None


def _rsa():
    from . import crypto
    from .crypto.rsakey import RsaPrivateKey

    key = RsaPrivateKey.from_pkcs8(_KEY)
    sig = crypto.rsa_sign(key, _MSG, "sha1")
    _check(sig == _SIG, "rsa signature known answer")
    _check(crypto.rsa_verify(key.public, _MSG, sig, "sha1", 512), "rsa verify")
    _check(not crypto.rsa_verify(key.public, _MSG + b"!", sig, "sha1", 512), "rsa verify accepted a changed message")
    secret = crypto.random_bytes(16)
    c = crypto.rsa_encrypt(key.public, secret)
    _check(bytes(crypto.rsa_decrypt_implicit(key, c, 16)) == secret, "rsa encrypt/decrypt round trip")


def _wire():
    from .wire import icmp, ipv6

    src = bytes.fromhex("fe800000000000000000000000000001")
    dst = bytes.fromhex("ff020000000000000000000000000002")
    buf = bytearray(64)
    off = ipv6.encode_header(buf, 0, 0, ipv6.NH_ICMPV6, 255, src, dst)
    off = icmp.encode_cps(buf, off, 0x1234)
    ipv6.finish(buf, 0, off)
    pkt = ipv6.decode_packet(buf, 0, off)
    _check(bytes(pkt.src) == src and bytes(pkt.dst) == dst and pkt.hop_limit == 255, "ipv6 header round trip")
    _check(ipv6.verify_upper(buf, pkt), "icmpv6 checksum")
    m = icmp.decode_icmp(buf, pkt.payload_off, pkt.payload_end)
    _check(m.type == icmp.ICMP_CPS and m.identifier == 0x1234, "cps round trip")
    buf[off - 1] ^= 1
    _check(not ipv6.verify_upper(buf, ipv6.decode_packet(buf, 0, off)), "checksum missed a flipped bit")


def _config_keys(path):
    import json

    from . import config, crypto
    from .crypto.rsakey import RsaPrivateKey

    with open(path) as f:
        cfg = json.load(f)
    _check(isinstance(cfg, dict), "config is not a JSON object")
    role = cfg.get("role")
    if role is None:
        role = "router" if "key" in cfg else "mobile"
    # Each role's key list lives with its builder: import only this device's.
    if role == "router":
        from .config_router import ROUTER_KEYS as allowed
    else:
        from .config_mobile import MOBILE_KEYS as allowed
    engine_cfg = {}
    for k in cfg:
        if k in allowed:
            engine_cfg[k] = cfg[k]
    config.build_engine(role, engine_cfg)  # raises ConfigError on anything wrong
    names = ["key"] if role == "router" else ["cga_key"]
    ders = [bytes.fromhex(engine_cfg[n]) for n in names]
    for h in engine_cfg.get("hke_keys", []):
        ders.append(bytes.fromhex(h))
    for i, der in enumerate(ders):
        key = RsaPrivateKey.from_pkcs8(der)
        sig = crypto.rsa_sign(key, _MSG, "sha1")
        _check(crypto.rsa_verify(key.public, _MSG, sig, "sha1", 512), "config key %d signs and verifies" % i)
    return "%s, %d key(s)" % (role, len(ders))


def run(config_path=None, out=None):
    """Run every check, print one line each and a verdict; True when all passed."""
    out = out or sys.stdout
    checks = [
        ("hashlib", _hashes),
        ("hmac", _hmac),
        ("urandom", _urandom),
        ("aes", _aes),
        ("rsa", _rsa),
        ("wire", _wire),
    ]
    if config_path:
        checks.append(("config", lambda: _config_keys(config_path)))
    failed = 0
    for name, fn in checks:
        try:
            note = fn()
            out.write("ok %s%s\n" % (name, " (%s)" % note if note else ""))
        except Exception as e:  # any failure of a check is that check's verdict, then go on
            failed += 1
            out.write("FAIL %s: %s %s\n" % (name, type(e).__name__, e))
    from . import crypto

    impl = sys.implementation
    platform = "%s %s" % (impl.name, ".".join(str(x) for x in impl.version[:3]))
    try:
        backend = crypto.backend_name()
    except Exception:  # the backend itself failed to load; the checks above said why
        backend = "none"
    out.write(
        "%s handoverkey selftest: %d/%d checks passed (%s, %s backend)\n"
        % ("PASS" if not failed else "FAIL", len(checks) - failed, len(checks), platform, backend)
    )
    return not failed


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    return 0 if run(argv[0] if argv else None) else 1


if __name__ == "__main__":
    sys.exit(main())
