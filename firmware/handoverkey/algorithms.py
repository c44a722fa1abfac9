"""The AT (algorithm type) registry of interpretations §1: MAC, key and authenticator sizes, strength, negotiation."""

from ._compat import const
from .errors import EncodeError

# Public names for the assigned ATs, for callers that configure preferences.
AT_HMAC_SHA1 = 0
AT_HMAC_SHA256 = 1

# AT is a 4-bit field in the Handover Key Request/Reply options (RFC 5269 §4).
AT_LIMIT = 16

# The registry. One row per assigned AT; adding an algorithm is one line here.
#   (AT, name, handover key octets, authenticator octets, strength rank, handoverkey.crypto function)
# Strength ranks only need to order the algorithms (higher is stronger) and must be distinct,
# so that "the weakest supported AT at least as strong" has exactly one answer.
_REGISTRY = (
    (0, "HMAC-SHA1", 20, 12, 10, "hmac_sha1"),
    (1, "HMAC-SHA256", 32, 16, 20, "hmac_sha256"),
)

# Column positions in the rows of _rows.
_KEY_LEN = const(0)
_AUTH_LEN = const(1)
_RANK = const(2)
_NAME = const(3)
_FN = const(4)

# Built on first use, never at import time: AT -> (key octets, authenticator octets, rank, name,
# crypto function name).
_rows = None
# handoverkey.crypto, imported on the first MAC so that asking for a key length loads no backend.
_crypto = None


def _table():
    global _rows
    if _rows is None:
        t = {}
        for at, name, klen, alen, rank, fn in _REGISTRY:
            t[at] = (klen, alen, rank, name, fn)
        _rows = t
    return _rows


def _load_crypto():
    global _crypto
    from . import crypto

    _crypto = crypto
    return crypto


# The MAC function is fetched from the crypto module on every call, not cached in the table:
# that module rebinds its names when a backend is chosen or forced (use_backend), and a cached
# function would keep using the old backend. getattr on a module is one dict lookup.


def _row(at):
    r = _table().get(at)
    if r is None:
        raise EncodeError("AT not in the registry")
    return r


def registered():
    """Every AT this build implements, in ascending order (a new tuple)."""
    return tuple(sorted(_table()))


def is_supported(at, supported=None):
    """True when `at` is in the registry and, if `supported` is given, also in that collection.

    An AT listed in `supported` but absent from the registry is not supported: the code cannot
    compute its MAC. Any value that is not a registered AT (2-15, out of range, wrong type)
    gives False, never an exception."""
    if type(at) is not int or _table().get(at) is None:
        return False
    return supported is None or at in supported


def key_len(at):
    """Handover key length in octets for a registered AT; EncodeError otherwise."""
    return _row(at)[_KEY_LEN]


def auth_len(at):
    """Authenticator length in octets (the truncated MAC carried in BADF); EncodeError if unregistered."""
    return _row(at)[_AUTH_LEN]


def strength(at):
    """Rank of the AT's strength: higher is stronger; only the order means anything."""
    return _row(at)[_RANK]


def name(at):
    """Human-readable algorithm name, for logs."""
    return _row(at)[_NAME]


def negotiate(requested, supported=None):
    """The AT a router answers with (RFC 5269 §3.2, interpretations §1), or None.

    The requested AT when it is registered and in `supported` (None: every registered AT);
    otherwise the weakest supported AT whose strength is at least that of the requested one.
    An unregistered request (2-15) has no known strength, so no AT is provably as strong and
    the answer is None: the router then provisions no key rather than guess."""
    if is_supported(requested, supported):
        return requested
    meta = _table()
    want = meta.get(requested) if type(requested) is int else None
    if want is None:
        return None
    floor = want[_RANK]
    best = None
    best_rank = 0
    # Taking the minimum over (rank, AT) keeps the answer independent of the iteration order
    # of `supported` (sets iterate in different orders on MicroPython and CPython).
    for at in meta if supported is None else supported:
        r = meta.get(at) if type(at) is int else None
        if r is None or r[_RANK] < floor:
            continue
        if best is None or r[_RANK] < best_rank or (r[_RANK] == best_rank and at < best):
            best = at
            best_rank = r[_RANK]
    return best


def mac(at, key, *parts):
    """The full MAC of AT `at` with `key` over the concatenated parts; EncodeError if unregistered.

    The key length is not checked here: HMAC is defined for any key, and the handover key
    length is enforced where keys are stored (KeyTable.put, MobileKeyStore.put)."""
    row = (_rows or _table()).get(at)
    if row is None:
        raise EncodeError("AT not in the registry")
    return getattr(_crypto or _load_crypto(), row[_FN])(key, *parts)


def authenticator(at, key, *parts):
    """The first auth_len(at) octets of the MAC: the value carried in the BADF option."""
    row = (_rows or _table()).get(at)
    if row is None:
        raise EncodeError("AT not in the registry")
    return getattr(_crypto or _load_crypto(), row[_FN])(key, *parts)[: row[_AUTH_LEN]]


def authenticator_matches(at, key, received, *parts):
    """Constant-time check of a received authenticator; False on any length mismatch.

    An unregistered AT raises EncodeError: the caller must not have accepted it."""
    row = (_rows or _table()).get(at)
    if row is None:
        raise EncodeError("AT not in the registry")
    n = row[_AUTH_LEN]
    if len(received) != n:
        return False
    c = _crypto or _load_crypto()
    # The backend's constant-time compare (C on the host, an XOR-accumulate loop on MicroPython).
    return c.ct_equal(getattr(c, row[_FN])(key, *parts)[:n], received)
