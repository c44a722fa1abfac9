"""Key log of interpretations §10 (like SSLKEYLOGFILE): write it, and read it back for offline checks."""

import os
import stat

LAB_WARNING = "# handoverkey key log: secret keys follow; for test and lab networks only"


class KeyLogWriter:
    """Appends key log records to a text file; opened only when the user asks for a key log."""

    def __init__(self, path):
        self.path = path
        # Secret keys: created readable by its owner only, whatever the umask (as the daemon's).
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise; a device is left alone
        self._f = os.fdopen(fd, "a", encoding="ascii")
        self._f.write(LAB_WARNING + "\n")
        self._f.flush()

    def __call__(self, line):
        self._f.write(line + "\n")
        self._f.flush()

    def close(self):
        self._f.close()


class KeyLog:
    """The parsed contents of a key log file."""

    def __init__(self):
        self.hke_private_keys = {}  # key hash (16 octets) -> PKCS#8 DER
        self.handover_keys = []  # (mn_cga, router_address, at, key)
        self.trust_anchors = []  # certificate DER


def parse_keylog(text):
    """Parse key log text; raises ValueError naming the first malformed line."""
    log = KeyLog()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(" ")
        kind = fields[0]
        try:
            if kind == "HKE_PRIVATE_KEY" and len(fields) == 3:
                kh = bytes.fromhex(fields[1])
                if len(kh) != 16:
                    raise ValueError("key hash must be 16 octets")
                log.hke_private_keys[kh] = bytes.fromhex(fields[2])
            elif kind == "HANDOVER_KEY" and len(fields) == 5:
                mn, router = bytes.fromhex(fields[1]), bytes.fromhex(fields[2])
                if len(mn) != 16 or len(router) != 16:
                    raise ValueError("addresses must be 16 octets")
                log.handover_keys.append((mn, router, int(fields[3]), bytes.fromhex(fields[4])))
            elif kind == "TRUST_ANCHOR" and len(fields) == 2:
                log.trust_anchors.append(bytes.fromhex(fields[1]))
            else:
                raise ValueError("unknown record or wrong field count")
        except ValueError as e:
            raise ValueError("key log line %d: %s" % (lineno, e)) from None
    return log
