"""Wire codecs: bytes <-> values over caller-owned buffers; no policy, no crypto, no I/O."""
