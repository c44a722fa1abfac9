"""The error taxonomy: who is at fault decides the class."""


class HandoverKeyError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(self, msg=""):
        super().__init__(msg)
        self.msg = msg


class DecodeError(HandoverKeyError):
    """The peer sent bytes that do not decode: drop the frame, never crash."""


class EncodeError(HandoverKeyError):
    """The caller asked for something that cannot go on the wire (a value out of range,
    a buffer too small). A local bug, not a peer's fault."""


class CryptoError(HandoverKeyError):
    """A key or cryptographic input is unusable (wrong size, malformed DER, too weak)."""


class VerifyError(HandoverKeyError):
    """A security check failed (CGA, signature, timestamp, nonce, certificate path, MAC).

    `reason` is a short stable token for logs and tests; never assert on `msg` text,
    MicroPython boards may strip it."""

    def __init__(self, reason, msg=""):
        super().__init__(msg or reason)
        self.reason = reason
