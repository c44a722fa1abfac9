"""X.509v3 certificate parser for SEND router certificates (RFC 5280 fields, RFC 3779 IPv6 blocks)."""

from handoverkey._compat import const
from handoverkey.errors import DecodeError
from handoverkey.send import asn1

# OIDs as their DER content octets; that is how they are compared, no dotted strings needed.
OID_RSA_ENCRYPTION = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"  # 1.2.840.113549.1.1.1
OID_SHA1_WITH_RSA = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05"  # 1.2.840.113549.1.1.5
OID_SHA256_WITH_RSA = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"  # 1.2.840.113549.1.1.11
OID_KEY_USAGE = b"\x55\x1d\x0f"  # 2.5.29.15
OID_BASIC_CONSTRAINTS = b"\x55\x1d\x13"  # 2.5.29.19
OID_EXT_KEY_USAGE = b"\x55\x1d\x25"  # 2.5.29.37
OID_SUBJECT_KEY_ID = b"\x55\x1d\x0e"  # 2.5.29.14
OID_AUTHORITY_KEY_ID = b"\x55\x1d\x23"  # 2.5.29.35
OID_CERTIFICATE_POLICIES = b"\x55\x1d\x20"  # 2.5.29.32
OID_IP_ADDR_BLOCKS = b"\x2b\x06\x01\x05\x05\x07\x01\x07"  # 1.3.6.1.5.5.7.1.7 (RFC 3779)
OID_KP_SEND_ROUTER = b"\x2b\x06\x01\x05\x05\x07\x03\x17"  # 1.3.6.1.5.5.7.3.23 (RFC 6494)
OID_ANY_EXT_KEY_USAGE = b"\x55\x1d\x25\x00"  # 2.5.29.37.0

# keyUsage bits as numbered in RFC 5280 §4.2.1.3; Certificate.key_usage has bit n set for bit n.
KU_DIGITAL_SIGNATURE = const(0x001)
KU_KEY_CERT_SIGN = const(0x020)

# Certificate.ip6 is None (no RFC 3779 extension), INHERIT, or a list of (low16, high16) ranges.
INHERIT = "inherit"

# RFC 3779 addressFamily octets for IPv6 without a SAFI.
_AFI_IPV6 = b"\x00\x02"
# A SEND router certificate carries a handful of prefixes; the cap bounds parse time and memory.
_MAX_RANGES = const(256)
_MAX_EXTENSIONS = const(32)
_MAX_KEY_PURPOSES = const(32)


class Certificate:
    """One parsed certificate; byte fields are memoryviews into the caller's buffer.

    tbs            the signed TBSCertificate TLV
    sig_oid        signatureAlgorithm OID (content bytes)
    sig_hash       "sha1" / "sha256" for sha1/sha256WithRSAEncryption, None when unsupported
    signature      signatureValue octets (the BIT STRING without its unused-bits octet)
    issuer, subject  DER Name TLVs, compared byte-wise
    not_before, not_after  Unix seconds
    spki           SubjectPublicKeyInfo TLV;  key_oid its algorithm OID
    ca, path_len   basicConstraints (False / None when absent)
    key_usage      int bitmask or None;  eku  list of OID bytes or None
    ip6            None, INHERIT or [(low16, high16), ...] sorted by low
    unhandled_critical  True when a critical extension was not understood
    """

    def __init__(self):
        self.der = None
        self.tbs = None
        self.version = 1
        self.sig_oid = b""
        self.sig_hash = None
        self.signature = None
        self.sig_unused = 0
        self.issuer = None
        self.subject = None
        self.not_before = 0
        self.not_after = 0
        self.spki = None
        self.key_oid = b""
        self.ca = False
        self.path_len = None
        self.has_basic_constraints = False
        self.key_usage = None
        self.eku = None
        self.ip6 = None
        self.policies = None  # certificatePolicies OIDs, when the extension is present
        self.unhandled_critical = False

    def self_issued(self):
        """RFC 5280 §3.2: subject and issuer are the same name."""
        return bytes(self.subject) == bytes(self.issuer)


def parse(buf, off=0, end=None):
    """Parse the DER certificate that fills buf[off:end] exactly; raise DecodeError on anything else."""
    if end is None:
        end = len(buf)
    if off < 0 or end > len(buf) or off > end:
        raise DecodeError("x509: bad bounds")
    mv = memoryview(buf)
    cvoff, cvend = asn1.expect(mv, off, end, asn1.SEQUENCE)
    if cvend != end:
        raise DecodeError("x509: trailing bytes")
    c = Certificate()
    c.der = mv[off:end]

    # TBSCertificate
    tag, tvoff, tvend = asn1.read_header(mv, cvoff, cvend)
    if tag != asn1.SEQUENCE:
        raise DecodeError("x509: tbs")
    c.tbs = mv[cvoff:tvend]
    inner_alg = _parse_tbs(mv, tvoff, tvend, c)

    # signatureAlgorithm must repeat the TBS one exactly (RFC 5280 §4.1.1.2).
    p = tvend
    aoff = p
    p = asn1.skip(mv, p, cvend)
    if bytes(mv[aoff:p]) != inner_alg:
        raise DecodeError("x509: signature algorithm mismatch")
    c.sig_oid, c.sig_hash = _sig_alg(mv, aoff, p)

    unused, doff, dend, p = asn1.read_bit_string(mv, p, cvend)
    c.sig_unused = unused
    c.signature = mv[doff:dend]
    if p != cvend:
        raise DecodeError("x509: trailing fields")
    return c


def _sig_alg(buf, off, end):
    """(oid, hash name or None) of an AlgorithmIdentifier TLV at [off, end)."""
    voff, vend = asn1.expect(buf, off, end, asn1.SEQUENCE)
    oid, p = asn1.read_oid(buf, voff, vend)
    # RFC 4055 §5: the parameters are NULL for these; absent is seen in the wild and means the same.
    plain = True
    if p < vend:
        if asn1.peek_tag(buf, p, vend) == asn1.NULL:
            p = asn1.read_null(buf, p, vend)
        else:
            p = asn1.skip(buf, p, vend)
            plain = False
    if p != vend:
        raise DecodeError("x509: algorithm identifier")
    if plain:
        if oid == OID_SHA1_WITH_RSA:
            return oid, "sha1"
        if oid == OID_SHA256_WITH_RSA:
            return oid, "sha256"
    return oid, None


def _parse_tbs(mv, p, end, c):
    """Fill c from the TBSCertificate content [p, end); return the inner signature AlgorithmIdentifier TLV."""
    if asn1.peek_tag(mv, p, end) == asn1.CTX0:
        voff, vend = asn1.expect(mv, p, end, asn1.CTX0)
        v, q = asn1.read_integer(mv, voff, vend, 1)
        # DER omits DEFAULT v1, so an explicit version is v2 (1) or v3 (2).
        if q != vend or v not in (1, 2):
            raise DecodeError("x509: version")
        c.version = v + 1
        p = vend
    # serialNumber: only its shape matters here; negative serials exist in the wild. DER
    # (X.690 §8.3.2): no leading octet that only repeats the sign of the next.
    soff, send = asn1.expect(mv, p, end, asn1.INTEGER)
    if send == soff or send - soff > 32:
        raise DecodeError("x509: serial")
    if send - soff > 1 and ((mv[soff] == 0 and mv[soff + 1] < 0x80) or (mv[soff] == 0xFF and mv[soff + 1] >= 0x80)):
        raise DecodeError("x509: serial not minimal")
    p = send
    aoff = p
    p = asn1.skip(mv, p, end)
    _sig_alg(mv, aoff, p)
    inner_alg = bytes(mv[aoff:p])

    noff = p
    p = _name(mv, p, end)
    c.issuer = mv[noff:p]

    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    c.not_before, q = asn1.read_time(mv, voff, vend)
    c.not_after, q = asn1.read_time(mv, q, vend)
    if q != vend:
        raise DecodeError("x509: validity")
    p = vend

    noff = p
    p = _name(mv, p, end)
    c.subject = mv[noff:p]

    koff = p
    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    aoff2, aend2 = asn1.expect(mv, voff, vend, asn1.SEQUENCE)
    c.key_oid, _q = asn1.read_oid(mv, aoff2, aend2)
    _u, _d, _e, q = asn1.read_bit_string(mv, aend2, vend)
    if q != vend:
        raise DecodeError("x509: spki")
    c.spki = mv[koff:vend]
    p = vend

    # issuerUniqueID [1] and subjectUniqueID [2] (v2/v3 only), then extensions [3] (v3 only), in order.
    for n in (1, 2):
        if asn1.peek_tag(mv, p, end) == asn1.ctx_prim(n):
            if c.version < 2:
                raise DecodeError("x509: unique id in v1")
            p = asn1.skip(mv, p, end)
    if asn1.peek_tag(mv, p, end) == asn1.CTX3:
        if c.version != 3:
            raise DecodeError("x509: extensions before v3")
        voff, vend = asn1.expect(mv, p, end, asn1.CTX3)
        eoff, eend = asn1.expect(mv, voff, vend, asn1.SEQUENCE)
        if eend != vend or eend == eoff:
            raise DecodeError("x509: extensions")
        _extensions(mv, eoff, eend, c)
        p = vend
    if p != end:
        raise DecodeError("x509: trailing tbs fields")
    return inner_alg


def _name(mv, p, end):
    """Check a Name (SEQUENCE OF SET OF {OID, value}) at p and return the offset after it."""
    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    for tag, roff, rend in asn1.items(mv, voff, vend):
        if tag != asn1.SET or rend == roff:
            raise DecodeError("x509: name rdn")
        for tag2, aoff, aend in asn1.items(mv, roff, rend):
            if tag2 != asn1.SEQUENCE:
                raise DecodeError("x509: name attribute")
            _o, q = asn1.read_oid(mv, aoff, aend)
            q = asn1.skip(mv, q, aend)
            if q != aend:
                raise DecodeError("x509: name attribute")
    return vend


def _extensions(mv, p, end, c):
    seen = []
    for tag, voff, vend in asn1.items(mv, p, end):
        if tag != asn1.SEQUENCE:
            raise DecodeError("x509: extension")
        oid, q = asn1.read_oid(mv, voff, vend)
        critical = False
        if asn1.peek_tag(mv, q, vend) == asn1.BOOLEAN:
            critical, q = asn1.read_boolean(mv, q, vend)
            # DER never encodes a DEFAULT value, so an explicit FALSE is malformed.
            if not critical:
                raise DecodeError("x509: explicit critical FALSE")
        xoff, xend = asn1.read_octet_string(mv, q, vend)
        if xend != vend:
            raise DecodeError("x509: extension")
        # RFC 5280 §4.2: at most one instance of an extension.
        if oid in seen:
            raise DecodeError("x509: duplicate extension")
        if len(seen) >= _MAX_EXTENSIONS:
            raise DecodeError("x509: too many extensions")
        seen.append(oid)
        if oid == OID_BASIC_CONSTRAINTS:
            _basic_constraints(mv, xoff, xend, c)
        elif oid == OID_KEY_USAGE:
            c.key_usage = _key_usage(mv, xoff, xend)
        elif oid == OID_EXT_KEY_USAGE:
            c.eku = _eku(mv, xoff, xend)
        elif oid == OID_IP_ADDR_BLOCKS:
            c.ip6 = ip_addr_blocks(mv, xoff, xend)
        elif oid == OID_CERTIFICATE_POLICIES:
            # RFC 5280 §4.2 MUST recognise it, and RFC 6487 §4.8.9 (the profile RFC 6494 §4 makes
            # SEND certificates follow) has it critical in every certificate. Path validation
            # runs with RFC 5280 §6.1.1's defaults (any-policy, no explicit policy required),
            # under which the policies decide nothing: they are read for form and kept.
            c.policies = _policies(mv, xoff, xend)
        elif oid == OID_SUBJECT_KEY_ID or oid == OID_AUTHORITY_KEY_ID:
            # Only identifiers for path building; nothing to enforce, so understood even if critical.
            pass
        elif critical:
            c.unhandled_critical = True


def _policies(mv, p, end):
    """certificatePolicies: SEQUENCE SIZE (1..MAX) OF PolicyInformation {policyIdentifier OID,
    policyQualifiers SEQUENCE OPTIONAL}; the policy OIDs as bytes. An OID may appear once
    (RFC 5280 §4.2.1.4)."""
    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    if vend != end or voff == vend:
        raise DecodeError("x509: certificatePolicies")
    out = []
    q = voff
    while q < vend:
        ioff, iend = asn1.expect(mv, q, vend, asn1.SEQUENCE)
        oid, r = asn1.read_oid(mv, ioff, iend)
        if r < iend:
            # The qualifiers (a SEQUENCE, last): informational only (§4.2.1.4), not read.
            if asn1.expect(mv, r, iend, asn1.SEQUENCE)[1] != iend:
                raise DecodeError("x509: certificatePolicies")
        oid = bytes(oid)
        if oid in out:
            raise DecodeError("x509: duplicate policy")
        out.append(oid)
        q = iend
    return out


def _basic_constraints(mv, p, end, c):
    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    if vend != end:
        raise DecodeError("x509: basicConstraints")
    q = voff
    if asn1.peek_tag(mv, q, vend) == asn1.BOOLEAN:
        ca, q = asn1.read_boolean(mv, q, vend)
        if not ca:
            raise DecodeError("x509: explicit cA FALSE")
        c.ca = True
    if asn1.peek_tag(mv, q, vend) == asn1.INTEGER:
        # Values above 255 make no sense for a path this code would ever accept.
        c.path_len, q = asn1.read_integer(mv, q, vend, 2)
    if q != vend:
        raise DecodeError("x509: basicConstraints")
    c.has_basic_constraints = True


def _key_usage(mv, p, end):
    unused, doff, dend, q = asn1.read_bit_string(mv, p, end)
    if q != end or dend - doff > 2:
        raise DecodeError("x509: keyUsage")
    # A named bit list has its trailing 0 bits removed (X.690 §11.2.2), and keyUsage sets at
    # least one bit (RFC 5280 §4.2.1.3): so the last bit encoded is a 1.
    if dend == doff or not mv[dend - 1] & (1 << unused):
        raise DecodeError("x509: keyUsage not minimal")
    # Named bit n is the n-th bit from the most significant bit of the first octet.
    bits = 0
    n = 0
    for i in range(doff, dend):
        b = mv[i]
        for k in range(8):
            if b & (0x80 >> k):
                bits |= 1 << n
            n += 1
    return bits


def _eku(mv, p, end):
    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    if vend != end or vend == voff:
        raise DecodeError("x509: extKeyUsage")
    out = []
    q = voff
    while q < vend:
        oid, q = asn1.read_oid(mv, q, vend)
        if len(out) >= _MAX_KEY_PURPOSES:
            raise DecodeError("x509: extKeyUsage too long")
        out.append(oid)
    return out


def _address(mv, doff, dend, unused, nbytes, fill):
    """Expand an RFC 3779 IPAddress BIT STRING to nbytes; the missing bits are all `fill` (0 or 1)."""
    n = dend - doff
    if n > nbytes:
        raise DecodeError("rfc3779: address too long")
    out = bytearray(nbytes)
    for i in range(n):
        out[i] = mv[doff + i]
    if fill:
        if n:
            out[n - 1] |= (1 << unused) - 1
        for i in range(n, nbytes):
            out[i] = 0xFF
    return bytes(out)


def _addresses_or_ranges(mv, p, end, nbytes):
    """[(low, high), ...] from an addressesOrRanges SEQUENCE OF value [p, end)."""
    out = []
    q = p
    while q < end:
        tag, voff, vend = asn1.read_header(mv, q, end)
        if tag == asn1.BIT_STRING:
            unused, doff, dend, _n = asn1.read_bit_string(mv, q, end)
            lo = _address(mv, doff, dend, unused, nbytes, 0)
            hi = _address(mv, doff, dend, unused, nbytes, 1)
        elif tag == asn1.SEQUENCE:
            unused, doff, dend, r = asn1.read_bit_string(mv, voff, vend)
            lo = _address(mv, doff, dend, unused, nbytes, 0)
            unused, doff, dend, r = asn1.read_bit_string(mv, r, vend)
            hi = _address(mv, doff, dend, unused, nbytes, 1)
            if r != vend or lo > hi:
                raise DecodeError("rfc3779: range")
        else:
            raise DecodeError("rfc3779: address or range")
        if len(out) >= _MAX_RANGES:
            raise DecodeError("rfc3779: too many ranges")
        out.append((lo, hi))
        q = vend
    return out


def ip_addr_blocks(mv, p, end):
    """The IPv6 resources of an IPAddrBlocks value at [p, end): INHERIT or sorted [(low16, high16), ...].

    IPv4 families are checked for shape and dropped. IPv6 families with a SAFI count towards the
    union of ranges (the holder is entitled to those addresses for some SAFI). An extension
    without any IPv6 family grants no IPv6 addresses: the empty list."""
    voff, vend = asn1.expect(mv, p, end, asn1.SEQUENCE)
    if vend != end:
        raise DecodeError("rfc3779: trailing bytes")
    families = []
    ranges = []
    inherit = False
    for tag, foff, fend in asn1.items(mv, voff, vend):
        if tag != asn1.SEQUENCE:
            raise DecodeError("rfc3779: family")
        aoff, aend = asn1.read_octet_string(mv, foff, fend)
        if aend - aoff not in (2, 3):
            raise DecodeError("rfc3779: address family")
        afi = bytes(mv[aoff:aend])
        if afi in families:
            raise DecodeError("rfc3779: duplicate family")
        families.append(afi)
        is_v6 = afi[0:2] == _AFI_IPV6
        if not is_v6 and afi[0:2] != b"\x00\x01":
            raise DecodeError("rfc3779: unknown family")
        ctag, coff, cend = asn1.read_header(mv, aend, fend)
        if cend != fend:
            raise DecodeError("rfc3779: family")
        if ctag == asn1.NULL:
            if coff != cend:
                raise DecodeError("rfc3779: inherit")
            if is_v6:
                inherit = True
        elif ctag == asn1.SEQUENCE:
            got = _addresses_or_ranges(mv, coff, cend, 16 if is_v6 else 4)
            if is_v6:
                if len(ranges) + len(got) > _MAX_RANGES:
                    raise DecodeError("rfc3779: too many ranges")
                ranges.extend(got)
        else:
            raise DecodeError("rfc3779: address choice")
    if inherit:
        # "inherit" beside explicit IPv6 ranges (another SAFI) has no single meaning: refuse it.
        if ranges:
            raise DecodeError("rfc3779: inherit mixed with ranges")
        return INHERIT
    ranges.sort()
    return ranges
