"""AES-CBC behind one small interface, and a constant-time PKCS#7 padding check.

Two variants, picked on first use like the rest of crypto/ (or forced with use_backend):
  "host"  `cryptography` (CPython)
  "pure"  MicroPython's cryptolib: only `aes(key, mode, iv)` with mode 1 (ECB) and 2 (CBC),
          `encrypt(src, dst)` / `decrypt(src, dst)` into a preallocated buffer, one direction
          per object, no CTR (dual-target-rules §9.2). There is no AES in pure Python here.

Keys are 16 or 32 octets (AES-128 / AES-256; 24 is not offered because cryptolib builds over
axTLS have no AES-192); the IV is 16 octets; the data a whole number of 16-octet blocks.
Both functions return a new bytearray of the same length as `data`.
"""

from ..errors import CryptoError

BLOCK = 16

_active = None


def use_backend(name):
    """Force "host" (cryptography) or "pure" (cryptolib)."""
    global _active, cbc_encrypt, cbc_decrypt
    if name == "host":
        try:
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: F401
        except ImportError:
            raise CryptoError("the host AES backend needs the cryptography package")
        cbc_encrypt = _host_encrypt
        cbc_decrypt = _host_decrypt
    elif name == "pure":
        try:
            import cryptolib  # noqa: F401
        except ImportError:
            raise CryptoError("the pure AES backend needs MicroPython's cryptolib")
        cbc_encrypt = _pure_encrypt
        cbc_decrypt = _pure_decrypt
    else:
        raise CryptoError("unknown AES backend")
    _active = name


def backend_name():
    if _active is None:
        _choose()
    return _active


def _choose():
    try:
        use_backend("host")
    except CryptoError:
        use_backend("pure")


def _check(key, iv, data):
    if len(key) != 16 and len(key) != 32:
        raise CryptoError("AES key must be 16 or 32 octets")
    if len(iv) != BLOCK:
        raise CryptoError("IV must be 16 octets")
    if len(data) % BLOCK:
        raise CryptoError("CBC data must be whole blocks")


# ---- stubs: the first call picks the backend and rebinds these names ----


def cbc_encrypt(key, iv, data):
    """AES-CBC encryption of whole blocks (no padding added here)."""
    if _active is None:
        _choose()
    return cbc_encrypt(key, iv, data)


def cbc_decrypt(key, iv, data):
    """AES-CBC decryption of whole blocks (no padding removed here)."""
    if _active is None:
        _choose()
    return cbc_decrypt(key, iv, data)


# ---- host: cryptography ----


def _host(key, iv):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(bytes(key)), modes.CBC(bytes(iv)))


def _host_encrypt(key, iv, data):
    _check(key, iv, data)
    e = _host(key, iv).encryptor()
    return bytearray(e.update(bytes(data)) + e.finalize())


def _host_decrypt(key, iv, data):
    _check(key, iv, data)
    d = _host(key, iv).decryptor()
    return bytearray(d.update(bytes(data)) + d.finalize())


# ---- pure: MicroPython cryptolib ----

_MODE_CBC = 2  # cryptolib has no MODE_* constants


def _pure_encrypt(key, iv, data):
    import cryptolib

    _check(key, iv, data)
    out = bytearray(len(data))
    if len(data):
        cryptolib.aes(bytes(key), _MODE_CBC, bytes(iv)).encrypt(data, out)
    return out


def _pure_decrypt(key, iv, data):
    import cryptolib

    _check(key, iv, data)
    out = bytearray(len(data))
    if len(data):
        cryptolib.aes(bytes(key), _MODE_CBC, bytes(iv)).decrypt(data, out)
    return out


# ---- PKCS#7 ----


def pkcs7_pad_len(n):
    """Octets of PKCS#7 padding after n octets of data: 1..16, always at least one."""
    return BLOCK - n % BLOCK


def pkcs7_unpad_len(buf):
    """Length of the data before valid PKCS#7 padding at the end of buf, or -1 when the
    padding is invalid. The work done is the same for every value of the last block (one
    pass over its 16 octets, no early exit), so timing says nothing about where it failed."""
    n = len(buf)
    if n < BLOCK or n % BLOCK:
        return -1
    p = buf[n - 1]
    bad = 0
    # p must be 1..16: (p - 1) and (16 - p) are both non-negative exactly then.
    bad |= ((p - 1) | (BLOCK - p)) & 0x100
    for i in range(BLOCK):
        # Octet i from the end (1-based: i + 1) lies inside the padding when i < p; there it
        # must equal p. mask is 0xFF inside the padding and 0 outside, without a branch.
        inside = ((i - p) >> 8) & 0xFF
        bad |= (buf[n - 1 - i] ^ p) & inside
    if bad:
        return -1
    return n - p
