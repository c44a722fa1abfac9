"""`python -m hostsim cga` as a user runs it, plus Hypothesis on the CGA parameters parser."""

import os
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from handoverkey.errors import DecodeError, VerifyError
from handoverkey.send.cga import CgaParams, cga_verify, der_tlv, parse_params
from hostsim.__main__ import main as hostsim_main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
APP_A_FILE = os.path.join(ROOT, "tests", "fixtures", "cga", "rfc3972_app_a.params")
APP_A_ADDR = "fe80::3c4a:5bf6:ffb4:ca6c"
with open(APP_A_FILE, "rb") as _f:
    APP_A = _f.read()


def cli(*argv, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "hostsim", "cga", *argv], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def flip_hex(blob, bit):
    b = bytearray(blob)
    b[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(b).hex()


@pytest.fixture(scope="module")
def rsa_key_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = d / "mn.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    pub_der = d / "mn_pub.der"
    pub_der.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, pub_der, spki


# ---- verify -------------------------------------------------------------------------------


def test_verify_appendix_a_hex_and_files(tmp_path):
    for params in (APP_A.hex(), APP_A_FILE):
        r = cli("verify", "--address", APP_A_ADDR, "--params", params)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("valid")
        assert "sec 1" in lines[0]
    hexfile = tmp_path / "a.hex"
    hexfile.write_text(APP_A.hex(":") + "\n")
    r = cli("verify", "--address", APP_A_ADDR, "--params", str(hexfile))
    assert r.returncode == 0 and r.stdout.startswith("valid")


def test_verify_rejects_one_bit_changes_strided_subprocess():
    # Every 11th bit walks the whole blob (modifier, prefix, count, DER header, key) in
    # separate processes; the full sweep runs in-process below.
    bits = list(range(0, len(APP_A) * 8, 11)) + list(range(24 * 8, 25 * 8))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda b: (b, cli("verify", "--address", APP_A_ADDR, "--params", flip_hex(APP_A, b))), bits))
    for bit, r in results:
        assert r.returncode == 1, (bit, r.stdout, r.stderr)
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("invalid: "), (bit, r.stdout)
        reason = lines[0].split(":")[1].strip()
        assert reason in ("collision-count", "prefix", "hash1", "malformed parameters"), (bit, lines[0])


def test_verify_rejects_every_one_bit_change_in_process(capsys):
    for bit in range(len(APP_A) * 8):
        rc = hostsim_main(["cga", "verify", "--address", APP_A_ADDR, "--params", flip_hex(APP_A, bit)])
        out = capsys.readouterr().out.strip().splitlines()
        assert rc == 1, bit
        assert len(out) == 1 and out[0].startswith("invalid: "), (bit, out)


def test_verify_address_changes_and_bad_usage():
    r = cli("verify", "--address", "fe80::3c4a:5bf6:ffb4:ca6d", "--params", APP_A.hex())
    assert r.returncode == 1 and r.stdout.startswith("invalid: hash1")
    r = cli("verify", "--address", "fe80:0:0:1:3c4a:5bf6:ffb4:ca6c", "--params", APP_A.hex())
    assert r.returncode == 1 and r.stdout.startswith("invalid: prefix")
    # Sec 1 -> 3 in the address: Hash2 lacks 48 zero bits.
    r = cli("verify", "--address", "fe80::7c4a:5bf6:ffb4:ca6c", "--params", APP_A.hex())
    assert r.returncode == 1 and r.stdout.startswith("invalid: hash2")
    # u/g bits are ignored (RFC 3972 §5 step 4).
    r = cli("verify", "--address", "fe80::3f4a:5bf6:ffb4:ca6c", "--params", APP_A.hex())
    assert r.returncode == 0 and r.stdout.startswith("valid")
    # Truncated parameters are a parse failure: exit 1 with a reason, not a traceback.
    r = cli("verify", "--address", APP_A_ADDR, "--params", APP_A[:60].hex())
    assert r.returncode == 1 and r.stdout.startswith("invalid: malformed parameters")
    assert "Traceback" not in r.stderr
    for argv in (
        ("verify", "--address", "fe80::zz", "--params", APP_A.hex()),
        ("verify", "--address", APP_A_ADDR, "--params", "not-hex-and-no-such-file"),
        ("verify", "--address", APP_A_ADDR, "--params", "abc"),
        ("verify", "--address", APP_A_ADDR),
        ("verify",),
        (),
    ):
        r = cli(*argv)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr


# ---- gen ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sec", [0, 1])
def test_gen_then_verify_with_key_and_out(tmp_path, rsa_key_files, sec):
    pem, pub_der, spki = rsa_key_files
    for key, prefix in ((pem, "2001:db8:1:2::/64"), (pub_der, "fe80::")):
        out = tmp_path / ("p%d_%s.params" % (sec, key.name))
        r = cli("gen", "--prefix", prefix, "--sec", str(sec), "--key", str(key), "--out", str(out))
        assert r.returncode == 0, r.stderr
        fields = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
        addr = fields["address"]
        raw = out.read_bytes()
        assert fields["params"] == raw.hex()
        assert fields["sec"] == str(sec)
        assert raw[25 : 25 + len(spki)] == spki
        v = cli("verify", "--address", addr, "--params", str(out))
        assert v.returncode == 0, v.stdout
        assert v.stdout.startswith("valid") and ("sec %d" % sec) in v.stdout
        v = cli("verify", "--address", addr, "--params", fields["params"])
        assert v.returncode == 0
        # A CGA from one prefix does not verify under another.
        other = "2001:db8:9::" + addr.split("::")[-1] if prefix == "fe80::" else "fe80::1"
        assert cli("verify", "--address", other, "--params", str(out)).returncode == 1


def test_gen_reproduces_appendix_a_from_its_starting_modifier(tmp_path):
    key = tmp_path / "app_a.spki"
    key.write_bytes(APP_A[25:])
    r = cli("gen", "--prefix", "fe80::/64", "--sec", "1", "--key", str(key), "--modifier", "89a8a8b2e858d8b8f2633f44d2d4ce9a")
    assert r.returncode == 0, r.stderr
    # The 512-bit test key draws a warning, but the result is the published one.
    assert "512-bit" in r.stderr
    fields = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
    assert fields["address"] == APP_A_ADDR
    assert fields["params"] == APP_A.hex()
    assert fields["modifier"] == "89a8a8b2e858d8b8f2633f44d2d4ce9b"


def test_gen_without_key_writes_one_next_to_out(tmp_path):
    out = tmp_path / "router.params"
    r = cli("gen", "--prefix", "fe80::", "--sec", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    key_path = tmp_path / "router.key.pem"
    assert key_path.exists()
    assert str(key_path) in r.stdout
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert key.key_size == 2048
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert out.read_bytes()[25:] == spki
    # A second run must not overwrite that private key.
    r = cli("gen", "--prefix", "fe80::", "--sec", "0", "--out", str(out))
    assert r.returncode == 2
    assert key_path.read_bytes() == key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_gen_without_out_says_where_the_key_went(tmp_path):
    r = cli("gen", "--prefix", "2001:db8::/64", "--sec", "0", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    fields = dict(line.split(": ", 1) for line in r.stdout.strip().splitlines())
    path = fields["key"].rsplit(" ", 1)[-1]
    assert (tmp_path / path).exists()


def test_gen_usage_errors(tmp_path, rsa_key_files):
    pem = str(rsa_key_files[0])
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a key")
    for argv in (
        ("gen", "--prefix", "fe80::1", "--key", pem),
        ("gen", "--prefix", "fe80::/48", "--key", pem),
        ("gen", "--prefix", "2001:db8::1/64", "--key", pem),
        ("gen", "--prefix", "nonsense", "--key", pem),
        ("gen", "--prefix", "fe80::", "--sec", "3", "--key", pem),
        ("gen", "--prefix", "fe80::", "--sec", "8", "--key", pem),
        ("gen", "--prefix", "fe80::", "--sec", "x", "--key", pem),
        ("gen", "--prefix", "fe80::", "--key", str(ec_key)),
        ("gen", "--prefix", "fe80::", "--key", str(junk)),
        ("gen", "--prefix", "fe80::", "--key", str(tmp_path / "missing")),
        ("gen", "--prefix", "fe80::", "--key", pem, "--modifier", "00"),
        ("gen", "--prefix", "fe80::", "--key", pem, "--collision-count", "3"),
        ("gen", "--prefix", "fe80::", "--key", pem, "--extensions", "fffd0005aa"),
        ("gen", "--key", pem),
    ):
        r = cli(*argv)
        assert r.returncode == 2, (argv, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr


# ---- Hypothesis ---------------------------------------------------------------------------


@settings(max_examples=3000, deadline=None)
@given(st.binary(max_size=400))
def test_parser_any_bytes_value_or_decode_error(blob):
    try:
        p = parse_params(blob)
    except DecodeError:
        return
    assert isinstance(p, CgaParams)
    assert p.key_off == 25 <= p.key_end <= p.end == len(blob)
    assert bytes(p.modifier) + bytes(p.prefix) + bytes((p.collision_count,)) + bytes(p.key) + bytes(p.extensions) == blob
    assert sum(4 + len(d) for _, d in p.extension_fields()) == len(p.extensions)


@st.composite
def near_valid_params(draw):
    """25 octets, a DER SEQUENCE header with a random length form, random body and tail."""
    head = draw(st.binary(min_size=25, max_size=25))
    body = draw(st.binary(max_size=300))
    form = draw(st.sampled_from(["short", "long1", "long2", "raw"]))
    n = len(body) + draw(st.integers(-3, 3))
    n = max(n, 0)
    if form == "short":
        hdr = bytes((0x30, n & 0x7F))
    elif form == "long1":
        hdr = bytes((0x30, 0x81, n & 0xFF))
    elif form == "long2":
        hdr = bytes((0x30, 0x82)) + (n & 0xFFFF).to_bytes(2, "big")
    else:
        hdr = draw(st.binary(min_size=1, max_size=6))
    tail = draw(st.binary(max_size=40))
    return head + hdr + body + tail


@settings(max_examples=3000, deadline=None)
@given(near_valid_params(), st.binary(min_size=16, max_size=16))
def test_parser_and_verify_on_near_valid_input(blob, addr):
    try:
        parse_params(blob)
    except DecodeError:
        pass
    try:
        cga_verify(addr, blob)
    except (DecodeError, VerifyError):
        pass


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=12), st.integers(0, 12), st.integers(0, 12))
def test_der_tlv_any_bounds(blob, off, end):
    try:
        tag, vo, ve = der_tlv(blob, off, end)
    except DecodeError:
        return
    assert off + 2 <= vo <= ve <= end <= len(blob)
