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
    "30820154020100300d06092a864886f70d01010105000482013e3082013a020100024100bf6e83f490b7d393"
    "0498374e18abb953bfed08de6db4de7a886ce1c828675c0e0f02002c77592194ce9be20a27d0e5fc25afee08"
    "accfbe9bc6e8d40a1f6ea9d90203010001024006db4b21e984921112212f1aee9e88fdef520ac727c40a9376"
    "3b3b278f8deb31bc3818a582978e38edbb3601c5eb416aabe325e419f1614157d4c95f45ce1991022100fc8b"
    "d8fee5f8ebc046efcf9145da252beabc4b6e69822afeff784eb93e94a571022100c20cb567c06660efe51b22"
    "a7c922ed0b5c7045900414264c6158dc3a8b0276e902200e648df660f6e1c0b08a44431c3f05754e4872e814"
    "fd4524093d3b0755a8b511022048e8dd800e1a6971b97368a20240cd2fe79b87878500cd2305b08d8eb18c4b"
    "81022100b05bd6b7ac7def1f4261396b7bba7879ac0fd197e613236104e79f7ce0b05fa1"
)
_MSG = b"handoverkey selftest"
_SIG = (
    "a75e5ea8624863fe1ac4f634f3d9c3039fc7bd7ebeb4448ec5018381c4da010801436c7dc151afd0c077e612"
    "99e97a5044f98f6b4132d46ee0876574e97e81ca"
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

    key = RsaPrivateKey.from_pkcs8(bytes.fromhex(_KEY))
    sig = crypto.rsa_sign(key, _MSG, "sha1")
    _check(sig.hex() == _SIG, "rsa signature known answer")
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
    allowed = config.ROUTER_KEYS if role == "router" else config.MOBILE_KEYS
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
