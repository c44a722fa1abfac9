"""`hostsim cga`: generate a CGA from an RSA key, or verify an address against CGA Parameters (RFC 3972)."""

import ipaddress
import os
import string
import sys

from handoverkey.errors import DecodeError, EncodeError, VerifyError
from handoverkey.send.cga import address_sec, cga_verify
from handoverkey.send.cga_gen import cga_generate

_HEX_DIGITS = frozenset(string.hexdigits)

# One line per VerifyError reason, in RFC 3972 §5 order.
_EXPLAIN = {
    "collision-count": "collision count {count} is not 0, 1 or 2",
    "prefix": "subnet prefix {pprefix} in the parameters differs from the address's {aprefix}",
    "hash1": "Hash1 of the parameters does not match the interface identifier",
    "hash2": "Hash2 does not start with 16*Sec = {bits} zero bits (Sec {sec} from the address)",
}


class UsageError(Exception):
    """Bad command line input: exit status 2."""


def add_arguments(parser):
    sub = parser.add_subparsers(dest="cga_command", metavar="SUBCOMMAND")
    gen = sub.add_parser("gen", help="generate a CGA", description="Generate a CGA (RFC 3972 §4).")
    gen.add_argument("--prefix", required=True, help="the /64 subnet prefix, e.g. 2001:db8:1:2::/64 or fe80::")
    gen.add_argument("--sec", type=int, default=1, help="security parameter 0, 1 or 2 (default 1)")
    gen.add_argument(
        "--key",
        metavar="FILE",
        help="RSA key, PEM or DER, private or public; without it a new 2048-bit key is made and saved",
    )
    gen.add_argument("--out", metavar="FILE", help="write the raw CGA Parameters here")
    gen.add_argument("--modifier", metavar="HEX", help="16-octet starting modifier (default: random)")
    gen.add_argument("--collision-count", type=int, default=0, help="0, 1 or 2 (default 0)")
    gen.add_argument("--extensions", metavar="HEX", default="", help="RFC 4581 extension fields to append")
    ver = sub.add_parser(
        "verify", help="verify an address against CGA Parameters", description="Verify a CGA (RFC 3972 §5)."
    )
    ver.add_argument("--address", required=True, help="the IPv6 address to verify")
    ver.add_argument(
        "--params", required=True, metavar="HEX|FILE", help="CGA Parameters as hex, or a file of raw bytes or hex text"
    )


def run(args):
    try:
        if args.cga_command == "gen":
            return _gen(args)
        if args.cga_command == "verify":
            return _verify(args)
        raise UsageError("give a subcommand: gen or verify")
    except UsageError as e:
        print("hostsim cga: " + str(e), file=sys.stderr)
        return 2


def _hex(text, what):
    cleaned = "".join(c for c in text if not c.isspace() and c != ":")
    if cleaned[:2] in ("0x", "0X"):
        cleaned = cleaned[2:]
    if not cleaned or len(cleaned) % 2 or not set(cleaned) <= _HEX_DIGITS:
        raise UsageError("%s is not hex" % what)
    return bytes.fromhex(cleaned)


def parse_prefix(text):
    """The 8 octets of a /64 given as `P/64` or as an address whose lower 64 bits are zero."""
    try:
        if "/" in text:
            net = ipaddress.IPv6Network(text, strict=True)
            if net.prefixlen != 64:
                raise UsageError("prefix %s is not a /64" % text)
            packed = net.network_address.packed
        else:
            packed = ipaddress.IPv6Address(text).packed
            if any(packed[8:]):
                raise UsageError("%s has interface bits set; give the /64 prefix, e.g. %s/64" % (text, _prefix_text(packed)))
    except ValueError as e:
        raise UsageError("bad prefix %r: %s" % (text, e))
    return packed[:8]


def _prefix_text(packed8):
    return str(ipaddress.IPv6Address(bytes(packed8[:8]) + bytes(8)))


def parse_address(text):
    try:
        return ipaddress.IPv6Address(text).packed
    except ValueError as e:
        raise UsageError("bad address %r: %s" % (text, e))


def read_params(arg):
    """CGA Parameters from a file (raw bytes or hex text) or from a hex string."""
    if os.path.isfile(arg):
        with open(arg, "rb") as f:
            data = f.read()
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            return data
        try:
            return _hex(text, "file")
        except UsageError:
            return data
    if os.path.exists(arg):
        raise UsageError("%s is not a regular file" % arg)
    return _hex(arg, "--params (and no such file)")


def load_spki(path):
    """DER SubjectPublicKeyInfo of the RSA key in path (PEM or DER, private or public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UsageError("cannot read key %s: %s" % (path, e.strerror))
    from cryptography.exceptions import UnsupportedAlgorithm

    key = None
    loaders = (
        lambda d: serialization.load_pem_private_key(d, None),
        serialization.load_pem_public_key,
        lambda d: serialization.load_der_private_key(d, None),
        serialization.load_der_public_key,
    )
    for load in loaders:
        try:
            key = load(data)
            break
        except TypeError:
            raise UsageError("key %s is encrypted; give an unencrypted key" % path)
        except (ValueError, UnsupportedAlgorithm):
            continue
    if key is None:
        raise UsageError("%s holds no PEM or DER key that can be read" % path)
    if isinstance(key, rsa.RSAPrivateKey):
        key = key.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise UsageError("%s is not an RSA key (SEND uses RSA, RFC 3971 §5.1)" % path)
    if key.key_size < 1024:
        print(
            "warning: %d-bit key; SEND verification here refuses keys under 1024 bits" % key.key_size,
            file=sys.stderr,
        )
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _new_key_path(args):
    if args.out:
        stem = os.path.splitext(args.out)[0]
        return stem + ".key.pem"
    return None


def _write_new(path, data, mode=0o600):
    """Create path exclusively: an existing key file is never overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _gen(args):
    prefix = parse_prefix(args.prefix)
    if args.sec in (3, 4, 5, 6, 7):
        raise UsageError("Sec %d can be verified but not generated: it takes about 2^%d hashes" % (args.sec, 16 * args.sec))
    if args.sec not in (0, 1, 2):
        raise UsageError("Sec must be 0, 1 or 2")
    if args.collision_count not in (0, 1, 2):
        raise UsageError("collision count must be 0, 1 or 2")
    modifier = None
    if args.modifier:
        modifier = _hex(args.modifier, "--modifier")
        if len(modifier) != 16:
            raise UsageError("--modifier must be 16 octets")
    extensions = _hex(args.extensions, "--extensions") if args.extensions else b""

    new_key_pem = None
    if args.key:
        spki = load_spki(args.key)
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key_path = _new_key_path(args)
        if key_path and os.path.exists(key_path):
            raise UsageError("%s exists; pass it with --key or choose another --out" % key_path)
        priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        new_key_pem = priv.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        spki = priv.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    try:
        addr, params = cga_generate(spki, prefix, args.sec, modifier, args.collision_count, extensions)
    except EncodeError as e:
        raise UsageError(e.msg)

    if new_key_pem is not None:
        key_path = _new_key_path(args) or "cga-%s.key.pem" % addr[8:].hex()
        try:
            _write_new(key_path, new_key_pem)
        except OSError as e:
            raise UsageError("cannot write key %s: %s" % (key_path, e.strerror))
    if args.out:
        try:
            with open(args.out, "wb") as f:
                f.write(params)
        except OSError as e:
            raise UsageError("cannot write %s: %s" % (args.out, e.strerror))

    print("address: %s" % ipaddress.IPv6Address(addr))
    print("sec: %d" % args.sec)
    print("modifier: %s" % params[:16].hex())
    print("collision-count: %d" % params[24])
    print("params: %s" % params.hex())
    if new_key_pem is not None:
        print("key: new 2048-bit RSA private key written to %s" % key_path)
    if args.out:
        print("out: %d octets written to %s" % (len(params), args.out))
    return 0


def _key_summary(spki):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_der_public_key(bytes(spki))
    except Exception:
        return "key %d octets, not a readable SubjectPublicKeyInfo" % len(spki)
    if isinstance(key, rsa.RSAPublicKey):
        return "key RSA %d bits" % key.key_size
    return "key %s" % type(key).__name__


def _verify(args):
    addr = parse_address(args.address)
    params = read_params(args.params)
    try:
        p = cga_verify(addr, params)
    except DecodeError as e:
        print("invalid: malformed parameters: %s" % e.msg)
        return 1
    except VerifyError as e:
        sec = address_sec(addr)
        detail = _EXPLAIN.get(e.reason, e.reason).format(
            count=params[24] if len(params) > 24 else "?",
            pprefix=_prefix_text(params[16:24]) if len(params) >= 24 else "?",
            aprefix=_prefix_text(addr),
            bits=16 * sec,
            sec=sec,
        )
        print("invalid: %s: %s" % (e.reason, detail))
        return 1
    # Same verdict as DoCoMo cgatool --ver, except that the u and g bits are ignored as
    # RFC 3972 §5 step 4 says (cgatool rejects an address with either bit set).
    print(
        "valid: %s sec %d collision-count %d %s extensions %d octets"
        % (ipaddress.IPv6Address(addr), address_sec(addr), p.collision_count, _key_summary(p.key), len(p.extensions))
    )
    return 0
