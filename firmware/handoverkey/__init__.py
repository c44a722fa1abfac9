"""handoverkey: RFC 5269 symmetric FMIPv6 handover keys distributed over SEND."""

__version__ = "0.1.0"
