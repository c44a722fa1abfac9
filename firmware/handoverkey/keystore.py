"""A sealed, crash-safe copy of the router's handover key table, so keys survive a restart.

A router that restarts with an empty table breaks every handover in progress: each mobile node
finds out only when its FBU is refused (RFC 5269 §3.5) and must then re-key. checkpoint() writes
the live entries of a KeyTable to a file; restore() puts them back after a restart. Neither
trusts the file system: a file that is torn, truncated, tampered with, sealed by another device,
or older than the last one this router wrote is refused as a whole (RestoreError(reason)), and
a refused file never yields a key, modified or not. The router then starts empty and says why.

Keys. From the device secret S (at least 16 octets, ideally 32 random octets from the board's
secure storage; never the key store itself):
    PRK   = HMAC-SHA256("handoverkey keystore", S)                        HKDF-Extract, RFC 5869
    K_enc = HMAC-SHA256(PRK, "handoverkey keystore v1 encryption" | 0x01) HKDF-Expand, one block
    K_mac = HMAC-SHA256(PRK, "handoverkey keystore v1 authentication" | 0x01)
    K_ctr = HMAC-SHA256(PRK, "handoverkey keystore v1 counter" | 0x01)

Store file (big-endian), encrypt-then-MAC:
    0   4  magic "HKKS"
    4   1  format version, 1
    5   1  reserved, 0
    6   2  entry count
    8   8  generation (strictly increasing per router, see below)
   16   8  wall-clock time of the checkpoint, Unix seconds
   24   4  ciphertext length C (a multiple of 16, = count * 61 + PKCS#7 padding)
   28  16  IV (os.urandom)
   44   C  AES-256-CBC(K_enc, IV, entries | PKCS#7 padding)
 44+C  32  HMAC-SHA256(K_mac, octets 0 .. 43+C)
An entry is 61 octets: address (16), key fingerprint (4, the first octets of the SEND Key Hash
of the CGA key), AT and flags (1: AT in bits 0-3, bit 4 set when the key was pinned, i.e. in use
and protected from eviction by the router's flood control; other bits zero), handover key (32,
key_len(AT) used, the rest zero), expiry as Unix seconds (8). Entries are in the table's LRU
order (unpinned keys least recent first, then pinned ones likewise, keytable.items()), so putting
them back in file order and re-pinning rebuilds the same order and the same protection. The
router itself (router_restore) then discards the pinned ones: they had forwarding, which is not
stored, so the restart ended it, and RFC 5269 §3.6 ends the key with it.

Expiry. The table keeps monotonic milliseconds, which mean nothing after a restart, so the file
holds wall-clock seconds, converted with the (now_ms, wall_s) pair the caller gives at each end:
    at checkpoint  exp_wall  = wall_s + (expires_ms - now_ms) // 1000
    at restore     remaining = exp_wall - wall_s - 1; dropped unless >= 1 s, capped at 65535 s
                   expires_ms = now_ms + remaining * 1000
Each step rounds towards earlier expiry (wall_s is a whole second of a clock that is up to one
second further on, and the table keeps whole seconds), so a restored key expires less than 3 s
earlier per checkpoint/restore cycle than it would have, and never later. A wall clock
that reads earlier than the checkpoint's own time is refused ("clock"): the downtime, and with it
how much lifetime is left, is unknown, so keeping keys would risk keeping them too long.

Order of checks in restore (nothing is decrypted before the MAC verifies):
    the file's size (at least one block and the tag; at most what the table can hold),
    the MAC, in constant time;
    magic, version, reserved octet, ciphertext length against the file size, count against
    the table's capacity and the ciphertext length;
    the generation against the anti-replay floor; the wall clock against the checkpoint's;
    decryption, the PKCS#7 padding (checked in constant time, crypto/aes.py), the plaintext
    length against the count, each entry (registered AT, no unknown flag, key padding zero).
Only then are entries put into the table. Reasons, stable tokens for logs and tests:
    no-store, io, size, mac, magic, version, count, replayed, no-counter, counter, clock,
    padding, entry.

Generation and replay (docs/threat-model.md). Every checkpoint carries a generation one higher
than any this router wrote before. Beside the store, `path + ".gen"` (the counter file) holds the
highest generation written, MAC'd with K_ctr:
    0 4 magic "HKKC" | 4 1 version 1 | 5 3 zero | 8 8 generation | 16 32 HMAC-SHA256(K_ctr, 0..15)
restore() refuses a store whose generation is below the counter ("replayed"), a missing counter
next to an existing store ("no-counter"), and a counter that does not verify ("counter"). A
caller with a better monotonic source (a secure element, TPM NV counter, RTC backup register)
passes min_generation and counter_path=False instead. What this stops: an old store file put
back on its own (a stale backup, a flash block that reverted, an attacker who can write the
store file). What it cannot stop: a rollback of the whole file system, store and counter
together; only a counter outside that file system can (put counter_path on other storage).

Crash safety. Both files are replaced the same way: write `path + ".tmp"` in the same directory,
flush and fsync it, os.rename() it over the old file (atomic on POSIX file systems and littlefs),
then fsync the directory so the rename itself is durable. A crash (SIGKILL, power loss) leaves the
old file or the new one, complete; a stale .tmp is never read and the next checkpoint overwrites
it. Order within a checkpoint: counter raised to g-1 if it is missing or unreadable, the store
(generation g), then the counter (g). A crash between the last two leaves store g with counter
g-1, which restores fine (g >= g-1) and restore() then raises the counter to g.
fsync: CPython has os.fsync. MicroPython 1.29 (unix port) has no os.fsync and no os.sync, but its
file flush() is fsync(2) (extmod/vfs_posix_file.c, checked with strace), and a directory opened
with open(dir, "rb") can be flushed the same way. On littlefs boards flush() syncs the file; FAT
(VfsFat) cannot rename over an existing file, so this module is not for FAT volumes.

Not stored: the forwarding table (FBU bindings last at most 300 s) and the SEND replay memory
(a replayed RtSolPr after a restart only gets the same key again, encrypted to the mobile
node's own key). The store contains handover keys: keep it in a directory only the router can
read; it is sealed against the disk and its readers, not against someone holding the device
secret.
"""

import os
import struct

from . import crypto
from ._compat import const
from .algorithms import is_supported, key_len
from .crypto import aes
from .errors import CryptoError, EncodeError, VerifyError

MAGIC = b"HKKS"
COUNTER_MAGIC = b"HKKC"
VERSION = 1
MIN_SECRET = 16
MAX_RESTORE_LIFETIME_S = 0xFFFF  # the HK Reply Key Lifetime is 16-bit seconds (RFC 5269 §4.2)

HEADER_LEN = 28
IV_LEN = 16
TAG_LEN = 32
ENTRY_LEN = 61
COUNTER_LEN = 48
_MIN_FILE = const(92)  # header + IV + one block + tag

_SALT = b"handoverkey keystore"
_L_ENC = b"handoverkey keystore v1 encryption\x01"
_L_MAC = b"handoverkey keystore v1 authentication\x01"
_L_CTR = b"handoverkey keystore v1 counter\x01"
_HDR_FMT = ">4sBBHQQI"
_CTR_FMT = ">4sB3sQ"
_U64 = 0xFFFFFFFFFFFFFFFF
_PINNED = const(0x10)  # in the entry's AT octet
_AT_MASK = const(0x0F)


class RestoreError(VerifyError):
    """The store was refused: `reason` says why (module docstring). `generation` is the highest
    generation this attempt saw authenticated (store header or counter), 0 when none: the
    caller's next checkpoint must go above it so the next restore does not refuse it."""

    def __init__(self, reason, generation=0):
        super().__init__(reason)
        self.generation = generation


def derive_keys(device_secret):
    """(K_enc, K_mac, K_ctr), 32 octets each, from the device secret."""
    if len(device_secret) < MIN_SECRET:
        raise CryptoError("device secret shorter than 16 octets")
    prk = crypto.hmac_sha256(_SALT, bytes(device_secret))
    return (crypto.hmac_sha256(prk, _L_ENC), crypto.hmac_sha256(prk, _L_MAC), crypto.hmac_sha256(prk, _L_CTR))


def counter_path_for(path, counter_path=None):
    """Where the counter file of the store at `path` lives; None when the caller keeps the count."""
    if counter_path is False:
        return None
    return counter_path or path + ".gen"


# ---- files ----------------------------------------------------------------------------------


def _dir_of(path):
    i = path.rfind("/")
    if i < 0:
        return "."
    return path[:i] or "/"


def _fsync_file(f):
    f.flush()  # MicroPython: this is fsync(2) itself
    fs = getattr(os, "fsync", None)
    if fs is not None:
        fs(f.fileno())


def _fsync_dir(d):
    # Makes the rename durable against power loss (a process crash does not need it).
    try:
        fs = getattr(os, "fsync", None)
        if fs is not None:
            fd = os.open(d, os.O_RDONLY)
            try:
                fs(fd)
            finally:
                os.close(fd)
        else:
            f = open(d, "rb")
            try:
                f.flush()
            finally:
                f.close()
    except OSError:
        pass  # a platform that cannot open directories (boards) syncs metadata on its own


def write_atomic(path, parts):
    """Replace `path` by the concatenation of `parts`: temporary file in the same directory,
    write, flush + fsync, rename over the old file, fsync the directory. Raises OSError; the old
    file is then untouched."""
    tmp = path + ".tmp"
    f = open(tmp, "wb")
    try:
        for p in parts:
            n = f.write(p)
            if n is not None and n != len(p):
                raise OSError(28)  # ENOSPC-like: a short write
        _fsync_file(f)
    finally:
        f.close()
    os.rename(tmp, path)
    _fsync_dir(_dir_of(path))


def _read(path, limit):
    """The file's octets, at most limit + 1 of them (more means too large); None when it does
    not exist. The size is asked first: MicroPython's read(n) allocates n octets up front."""
    try:
        size = os.stat(path)[6]
        f = open(path, "rb")
    except OSError as e:
        if e.args and e.args[0] == 2:  # ENOENT
            return None
        raise
    try:
        return f.read((size if size < limit else limit) + 1)
    finally:
        f.close()


# ---- the counter file -----------------------------------------------------------------------


def _counter_bytes(k_ctr, generation):
    body = struct.pack(_CTR_FMT, COUNTER_MAGIC, VERSION, b"\x00\x00\x00", generation)
    return body + crypto.hmac_sha256(k_ctr, body)


def write_counter(path, k_ctr, generation):
    if type(generation) is not int or generation < 0 or generation > _U64:
        raise EncodeError("generation out of range")
    write_atomic(path, [_counter_bytes(k_ctr, generation)])


def read_counter(path, k_ctr):
    """The counter's generation; None when the file does not exist; RestoreError("counter")
    when it does not verify."""
    try:
        data = _read(path, COUNTER_LEN)
    except OSError:
        raise RestoreError("counter")
    if data is None:
        return None
    if len(data) != COUNTER_LEN:
        raise RestoreError("counter")
    if not crypto.ct_equal(crypto.hmac_sha256(k_ctr, data[:16]), data[16:]):
        raise RestoreError("counter")
    magic, version, zero, gen = struct.unpack(_CTR_FMT, data[:16])
    if magic != COUNTER_MAGIC or version != VERSION or zero != b"\x00\x00\x00":
        raise RestoreError("counter")
    return gen


# ---- checkpoint -----------------------------------------------------------------------------


def seal(table, device_secret, now_ms, wall_s, generation, keys=None):
    """The store file's octets for the live entries of `table` (no I/O)."""
    if type(generation) is not int or generation < 1 or generation > _U64:
        raise EncodeError("generation out of range")
    if type(now_ms) is not int or type(wall_s) is not int or now_ms < 0 or wall_s < 0 or wall_s > _U64:
        raise EncodeError("times must be non-negative integers")
    k_enc, k_mac, _ = keys or derive_keys(device_secret)
    entries = list(table.items(now_ms))
    count = len(entries)
    plen = count * ENTRY_LEN
    pad = aes.pkcs7_pad_len(plen)
    pt = bytearray(plen + pad)
    o = 0
    for addr, fp, at, key, expires_ms in entries:
        pt[o : o + 16] = addr
        pt[o + 16 : o + 20] = fp
        pt[o + 20] = at | (_PINNED if table.is_pinned(table.peek(addr, now_ms)) else 0)
        pt[o + 21 : o + 21 + len(key)] = key  # the rest of the 32 octets stays zero
        exp_wall = wall_s + (expires_ms - now_ms) // 1000
        if exp_wall > _U64:
            raise EncodeError("expiry out of range")
        struct.pack_into(">Q", pt, o + 53, exp_wall)
        o += ENTRY_LEN
    for i in range(pad):
        pt[plen + i] = pad
    iv = crypto.random_bytes(IV_LEN)
    ct = aes.cbc_encrypt(k_enc, iv, pt)
    for i in range(len(pt)):
        pt[i] = 0  # do not leave the plaintext keys in a freed buffer
    header = struct.pack(_HDR_FMT, MAGIC, VERSION, 0, count, generation, wall_s, len(ct))
    tag = crypto.hmac_sha256(k_mac, header, iv, ct)
    return header + iv + bytes(ct) + tag


def checkpoint(table, path, device_secret, now_ms, wall_s, generation, counter_path=None):
    """Write the live entries of `table` to `path`, atomically, as `generation` (which must be
    above the counter's); then raise the counter to it. Returns the number of entries written.
    Raises OSError (the old store stays in place; or, when only the counter's write failed, the
    new store is in place a generation ahead of the counter, which next_generation counts),
    EncodeError for a generation not above the counter's, CryptoError for a short device secret."""
    keys = derive_keys(device_secret)
    cpath = counter_path_for(path, counter_path)
    if cpath is not None:
        try:
            cur = read_counter(cpath, keys[2])
        except RestoreError:
            cur = None  # unreadable: rewritten below, at this router's own count
        if cur is not None and generation <= cur:
            raise EncodeError("generation not above the counter")
        if cur is None:
            # First checkpoint (or a lost counter): lay down g-1 first, so a crash between the
            # store's rename and the counter's leaves a store that still restores.
            write_counter(cpath, keys[2], generation - 1)
    data = seal(table, device_secret, now_ms, wall_s, generation, keys)
    write_atomic(path, [data])
    if cpath is not None:
        write_counter(cpath, keys[2], generation)
    return (len(data) - HEADER_LEN - IV_LEN - TAG_LEN) // ENTRY_LEN


def next_generation(path, device_secret, known=0, counter_path=None):
    """The generation the next checkpoint should use: one above `known` (what the caller saw
    authenticated), the counter, and the store's own header when it verifies."""
    k_enc, k_mac, k_ctr = derive_keys(device_secret)
    best = known
    cpath = counter_path_for(path, counter_path)
    cur = None
    if cpath is not None:
        try:
            cur = read_counter(cpath, k_ctr)
        except RestoreError:
            cur = None
    if cur is not None and cur > best:
        best = cur
    # The header counts even when the counter reads: a checkpoint whose store was renamed into
    # place but whose counter write then failed left the store one generation ahead of the
    # counter, and reusing that generation would let the older file with it be put back.
    h = inspect(path, device_secret)
    if h is not None and h[0] > best:
        best = h[0]
    return best + 1


# ---- restore --------------------------------------------------------------------------------


def _max_size(capacity):
    return HEADER_LEN + IV_LEN + capacity * ENTRY_LEN + aes.pkcs7_pad_len(capacity * ENTRY_LEN) + TAG_LEN


def _open_store(path, k_mac, capacity):
    """(data, header fields) of a store whose MAC verifies; RestoreError otherwise."""
    limit = _max_size(capacity)
    try:
        data = _read(path, limit)
    except OSError:
        raise RestoreError("io")
    if data is None:
        raise RestoreError("no-store")
    n = len(data)
    if n < _MIN_FILE or n > limit:
        raise RestoreError("size")
    mv = memoryview(data)
    # Encrypt-then-MAC: the tag is checked, in constant time, before anything is parsed or
    # decrypted. Any change to any octet, a cut or an extension ends here.
    if not crypto.ct_equal(crypto.hmac_sha256(k_mac, mv[: n - TAG_LEN]), bytes(mv[n - TAG_LEN :])):
        raise RestoreError("mac")
    magic, version, reserved, count, gen, wall, clen = struct.unpack(_HDR_FMT, bytes(mv[:HEADER_LEN]))
    if magic != MAGIC:
        raise RestoreError("magic", gen)
    if version != VERSION or reserved != 0:
        raise RestoreError("version", gen)
    if clen % 16 or HEADER_LEN + IV_LEN + clen + TAG_LEN != n:
        raise RestoreError("size", gen)
    if count > capacity or clen != count * ENTRY_LEN + aes.pkcs7_pad_len(count * ENTRY_LEN):
        raise RestoreError("count", gen)
    return data, (gen, wall, count, clen)


def inspect(path, device_secret, capacity=0xFFFF):
    """(generation, wall_s, count) of a store whose MAC verifies, else None. Decrypts nothing."""
    try:
        _, h = _open_store(path, derive_keys(device_secret)[1], capacity)
    except RestoreError:
        return None
    return h[0], h[1], h[2]


def restore(table, path, device_secret, now_ms, wall_s, min_generation=None, counter_path=None,
            max_lifetime_s=MAX_RESTORE_LIFETIME_S):
    """Put every still-valid entry of the store at `path` into `table`.

    Returns (generation, restored, dropped): the store's generation, the entries put, the
    entries left out because they expire within a second. Raises RestoreError(reason) when the
    store is refused; the table is then untouched. The anti-replay floor is `min_generation`
    when given, else the counter file (counter_path, default path + ".gen"), which restore()
    raises to the store's generation when it is behind (best effort)."""
    if type(now_ms) is not int or type(wall_s) is not int or now_ms < 0:
        raise EncodeError("times must be non-negative integers")
    k_enc, k_mac, k_ctr = derive_keys(device_secret)
    data, (gen, wall, count, clen) = _open_store(path, k_mac, table.capacity)
    cpath = None
    if min_generation is None:
        cpath = counter_path_for(path, counter_path)
        if cpath is None:
            raise EncodeError("no anti-replay floor: pass min_generation or keep a counter file")
        try:
            floor = read_counter(cpath, k_ctr)
        except RestoreError:
            raise RestoreError("counter", gen)
        if floor is None:
            raise RestoreError("no-counter", gen)
    else:
        floor = min_generation
    if gen < floor:
        raise RestoreError("replayed", floor)
    if wall_s < wall:
        raise RestoreError("clock", gen)
    # Authentic, current and in a consistent frame: now decrypt.
    mv = memoryview(data)
    iv = bytes(mv[HEADER_LEN : HEADER_LEN + IV_LEN])
    pt = aes.cbc_decrypt(k_enc, iv, mv[HEADER_LEN + IV_LEN : HEADER_LEN + IV_LEN + clen])
    try:
        plen = aes.pkcs7_unpad_len(pt)
        if plen < 0:
            raise RestoreError("padding", gen)
        if plen != count * ENTRY_LEN:
            raise RestoreError("count", gen)
        keep = []
        dropped = 0
        o = 0
        for _ in range(count):
            flags = pt[o + 20]
            at = flags & _AT_MASK
            if flags & ~(_AT_MASK | _PINNED) or not is_supported(at):
                raise RestoreError("entry", gen)
            klen = key_len(at)
            z = 0
            for i in range(o + 21 + klen, o + 53):
                z |= pt[i]
            if z:
                raise RestoreError("entry", gen)
            exp_wall = struct.unpack(">Q", bytes(pt[o + 53 : o + 61]))[0]
            remaining = exp_wall - wall_s - 1
            if remaining > max_lifetime_s:
                remaining = max_lifetime_s
            if remaining >= 1:
                keep.append((o, at, klen, now_ms + remaining * 1000, flags & _PINNED))
            else:
                dropped += 1
            o += ENTRY_LEN
        # Everything verified: only now does the table change.
        for o, at, klen, expires_ms, pinned in keep:
            slot = table.put(bytes(pt[o : o + 16]), bytes(pt[o + 16 : o + 20]), at,
                             bytes(pt[o + 21 : o + 21 + klen]), expires_ms, now_ms)
            if pinned:
                table.pin(slot)
    finally:
        for i in range(len(pt)):
            pt[i] = 0
    if cpath is not None and gen > floor:
        try:
            write_counter(cpath, k_ctr, gen)
        except OSError:
            pass
    return gen, len(keep), dropped


# ---- the router's hooks (Router.checkpoint / Router.restore call these) ------------------------


def _secret(secret):
    # Through the agent's JSON `call` the secret arrives as hex text.
    if isinstance(secret, str):
        return bytes.fromhex(secret)
    return bytes(secret)


def router_checkpoint(router, now_ms, wall_s, path, secret):
    """Checkpoint router.table with the next generation; ([], events)."""
    secret = _secret(secret)
    known = getattr(router, "_ks_generation", 0)
    try:
        gen = next_generation(path, secret, known)
        n = checkpoint(router.table, path, secret, now_ms, wall_s, gen)
    except OSError as e:
        return [], [("checkpoint-failed", {"reason": "io", "errno": e.args[0] if e.args else 0})]
    router._ks_generation = gen
    return [], [("keys-checkpointed", {"generation": gen, "count": n})]


def router_restore(router, now_ms, wall_s, path, secret):
    """Restore router.table from the store; ([], events): keys-restored or restore-refused."""
    secret = _secret(secret)
    try:
        gen, n, dropped = restore(router.table, path, secret, now_ms, wall_s)
    except RestoreError as e:
        if e.generation > getattr(router, "_ks_generation", 0):
            router._ks_generation = e.generation
        return [], [("restore-refused", {"reason": e.reason})]
    if gen > getattr(router, "_ks_generation", 0):
        router._ks_generation = gen
    # A key that came back pinned verified an FBU: its handover had forwarding, which is not
    # stored, and with it went the last sequence number that kept captured FBUs from being
    # replayed. Forwarding ended with the restart, so the key goes too (RFC 5269 §3.6).
    table = router.table
    ended = [a for a, _, _, _, _ in table.items(now_ms) if table.is_pinned(table.peek(a, now_ms))]
    events = [("keys-restored", {"generation": gen, "count": n - len(ended), "dropped": dropped})]
    for a in ended:
        table.remove(a)
        events.append(("key-discarded", {"pcoa": a}))
    return [], events
