"""Router certification path validation (RFC 3971 §6.3, RFC 5280 §6 essentials, RFC 3779, RFC 6494)."""

# Policy decisions, where the RFCs leave a choice (interpretations §9):
# - A trust anchor is a DER Name plus a key. Given as a certificate, it also brings its RFC 3779
#   set and pathLen; its own validity and self-signature are not checked (RFC 5280 §6.1.1 (d)).
# - EKU: only the router (last) certificate is checked. When present it must list
#   id-kp-sendRouter; anyExtendedKeyUsage alone is refused (RFC 6494 §7). An absent EKU is
#   accepted, for RFC 3971-era certificates. EKUs of CA certificates are not chained.
# - RFC 3779: a missing extension or "inherit" takes the issuer's set (RFC 3971 §6.3.1/§6.3.2);
#   otherwise every range must lie inside the issuer's set or the path fails (no intersection).
#   ::/0 is an ordinary range that must itself be nested (RFC 6494 §4.1 "the null prefix MUST be
#   validated"), not a synonym for inherit. No constraint anywhere means unconstrained.
# - An extension that lists no IPv6 family grants no IPv6 addresses (RFC 3779 §2.2.3.3).
# - No revocation check: RFC 3971 §6.3.1 makes first acceptance provisional; that is the caller's.
# - Certificate policies: RFC 5280 §6.1.1's defaults (any-policy, no explicit policy required),
#   so the critical certificatePolicies of the RPKI profile (RFC 6487 §4.8.9, through RFC 6494
#   §4) is understood and decides nothing; a critical policyConstraints or policyMappings, which
#   would, stops the path as any unhandled critical extension does.

from handoverkey import crypto
from handoverkey._compat import const
from handoverkey.crypto.rsakey import RsaPublicKey
from handoverkey.errors import CryptoError, DecodeError, VerifyError
from handoverkey.send import x509

# A CPA path is a few certificates; the cap bounds the RSA work one solicitation can cause.
MAX_PATH = const(8)
_LOW64 = const(0xFFFFFFFFFFFFFFFF)


class TrustAnchor:
    """A configured trust anchor: DER X.501 Name, SPKI DER, and the constraints its certificate carries.

    ip6 is None (no RFC 3779 constraint) or [(low16, high16), ...]; path_len is None or an int."""

    def __init__(self, name, spki, ip6=None, path_len=None):
        self.name = bytes(name)
        self.spki = bytes(spki)
        self.ip6 = ip6
        self.path_len = path_len
        self._key = None

    @staticmethod
    def from_certificate(der):
        """Anchor from its certificate DER (or a parsed x509.Certificate); DecodeError if malformed."""
        c = der if isinstance(der, x509.Certificate) else x509.parse(der)
        # An anchor's "inherit" has nothing above it to inherit from: treat it as no constraint.
        ip6 = c.ip6 if isinstance(c.ip6, list) else None
        return TrustAnchor(c.subject, c.spki, ip6, c.path_len)

    def key(self):
        """The anchor's RSA key, parsed once; VerifyError("anchor") when it is not usable."""
        if self._key is None:
            try:
                self._key = RsaPublicKey.from_spki(self.spki)
            except CryptoError:
                raise VerifyError("anchor")
        return self._key


def trust_anchor(obj):
    """A TrustAnchor from a TrustAnchor, a (name DER, SPKI DER) pair, a parsed certificate or certificate DER.

    Raises DecodeError when certificate DER does not parse."""
    if isinstance(obj, TrustAnchor):
        return obj
    if isinstance(obj, tuple) or isinstance(obj, list):
        if len(obj) != 2:
            raise DecodeError("anchor: expected (name, spki)")
        return TrustAnchor(obj[0], obj[1])
    return TrustAnchor.from_certificate(obj)


class PathResult:
    """What a valid path proves: the router's key, its certificate and its effective IPv6 resources.

    resources is None (unconstrained) or a merged, sorted list of (low16, high16) inclusive ranges."""

    def __init__(self, key, router, anchor, resources):
        self.key = key
        self.router = router
        self.anchor = anchor
        self.resources = resources


def validate_path(trust_anchors, certs, wall_s, prefix=None, min_bits=1024):
    """The router's RsaPublicKey (last certificate of `certs`), or VerifyError(reason)."""
    return check_path(trust_anchors, certs, wall_s, prefix, min_bits).key


def check_path(trust_anchors, certs, wall_s, prefix=None, min_bits=1024):
    """Validate `certs` (anchor's child first, router last) to one of `trust_anchors`; returns PathResult.

    Reasons: decode anchor issuer expired critical-ext not-ca path-len rfc3779 eku key-usage
    not-rsa weak-key prefix signature."""
    n = len(certs)
    if n == 0:
        raise VerifyError("anchor")
    if n > MAX_PATH:
        raise VerifyError("path-len")
    if prefix is not None and len(prefix) != 16:
        # A caller bug, but failing closed keeps a bad prefix from ever authorising a router.
        raise VerifyError("prefix")
    parsed = []
    for c in certs:
        if not isinstance(c, x509.Certificate):
            try:
                c = x509.parse(c)
            except DecodeError:
                raise VerifyError("decode")
        parsed.append(c)
    first_issuer = bytes(parsed[0].issuer)
    err = None
    for a in trust_anchors:
        try:
            a = trust_anchor(a)
        except DecodeError:
            # A malformed configured anchor cannot vouch for anything; the other anchors still may.
            continue
        if a.name != first_issuer:
            continue
        try:
            return _walk(a, parsed, wall_s, prefix, min_bits)
        except VerifyError as e:
            # Several anchors may share a name (key rollover); try them all before giving up.
            err = e
    if err is None:
        raise VerifyError("anchor")
    raise err


def _walk(anchor, certs, wall_s, prefix, min_bits):
    issuer_name = anchor.name
    issuer_key = anchor.key()
    max_path = anchor.path_len
    resources = _merge(anchor.ip6) if anchor.ip6 is not None else None
    last = len(certs) - 1
    key = None
    for i in range(last + 1):
        c = certs[i]
        # Cheap checks first: they cost no RSA work when a peer sends junk.
        if bytes(c.issuer) != issuer_name:
            raise VerifyError("issuer")
        if wall_s < c.not_before or wall_s > c.not_after:
            raise VerifyError("expired")
        if c.unhandled_critical:
            raise VerifyError("critical-ext")
        if i < last:
            if not c.ca:
                raise VerifyError("not-ca")
            if c.key_usage is not None and not c.key_usage & x509.KU_KEY_CERT_SIGN:
                raise VerifyError("not-ca")
            # RFC 5280 §6.1.4 (l), (m): self-issued CA certificates do not count towards pathLen.
            if not c.self_issued():
                if max_path is not None:
                    if max_path <= 0:
                        raise VerifyError("path-len")
                    max_path -= 1
            if c.path_len is not None and (max_path is None or c.path_len < max_path):
                max_path = c.path_len
        resources = _nest(resources, c.ip6)
        if i == last:
            # RFC 6494 §7: a SEND KeyPurposeId must be there; anyExtendedKeyUsage alone is not enough.
            if c.eku is not None and x509.OID_KP_SEND_ROUTER not in c.eku:
                raise VerifyError("eku")
            if c.key_usage is not None and not c.key_usage & x509.KU_DIGITAL_SIGNATURE:
                raise VerifyError("key-usage")
            # from_spki accepts rsaEncryption only, so an EC or DSA key ends here.
            try:
                key = RsaPublicKey.from_spki(bytes(c.spki))
            except CryptoError:
                raise VerifyError("not-rsa")
            if key.bits < min_bits:
                raise VerifyError("weak-key")
            if prefix is not None and resources is not None:
                lo = int.from_bytes(prefix[0:8], "big") << 64
                if not _within([(lo, lo | _LOW64)], resources):
                    raise VerifyError("prefix")
        _check_signature(issuer_key, c, min_bits)
        if i < last:
            try:
                issuer_key = RsaPublicKey.from_spki(bytes(c.spki))
            except CryptoError:
                # Only RSA signatures can be checked, so nothing below this CA can be verified.
                raise VerifyError("signature")
            issuer_name = bytes(c.subject)
    return PathResult(key, certs[last], anchor, _to_bytes(resources))


def _check_signature(issuer_key, c, min_bits):
    if c.sig_hash is None or c.sig_unused:
        raise VerifyError("signature")
    try:
        ok = crypto.rsa_verify(issuer_key, c.tbs, c.signature, hash=c.sig_hash, min_bits=min_bits)
    except CryptoError:
        ok = False
    if not ok:
        raise VerifyError("signature")


def _nest(parent, ip6):
    """Effective resources of a certificate whose issuer's effective resources are `parent`."""
    # No extension or "inherit": the issuer's set (RFC 3971 §6.3.1, RFC 3779 §2.2.3.5).
    if ip6 is None or not isinstance(ip6, list):
        return parent
    mine = _merge(ip6)
    if parent is not None and not _within(mine, parent):
        raise VerifyError("rfc3779")
    return mine


def _merge(ranges):
    """Sorted, disjoint, non-adjacent integer ranges from [(low16, high16), ...]."""
    ints = []
    for lo, hi in ranges:
        ints.append((int.from_bytes(lo, "big"), int.from_bytes(hi, "big")))
    ints.sort()
    out = []
    for lo, hi in ints:
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _within(inner, outer):
    """True when every range of merged `inner` lies inside the union of merged `outer`."""
    # Both are merged, so each inner range must sit inside a single outer range.
    j = 0
    m = len(outer)
    for lo, hi in inner:
        while j < m and outer[j][1] < lo:
            j += 1
        if j == m or outer[j][0] > lo or outer[j][1] < hi:
            return False
    return True


def _to_bytes(resources):
    if resources is None:
        return None
    out = []
    for lo, hi in resources:
        out.append((lo.to_bytes(16, "big"), hi.to_bytes(16, "big")))
    return out


def covers(resources, low16, high16):
    """True when PathResult.resources (None: unconstrained) include every address in [low16, high16]."""
    if resources is None:
        return True
    return _within([(int.from_bytes(low16, "big"), int.from_bytes(high16, "big"))], _merge(resources))
