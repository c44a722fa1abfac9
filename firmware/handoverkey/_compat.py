"""The one place that probes the platform: const, native, ticks and print_exception shims."""

import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


try:
    import micropython as _mp

    native = _mp.native
except (ImportError, AttributeError):

    def native(f):
        return f


try:
    from time import ticks_add, ticks_diff, ticks_ms
except ImportError:
    import time as _time

    _TICKS_PERIOD = 1 << 30
    _TICKS_HALF = _TICKS_PERIOD >> 1

    def ticks_ms():
        return int(_time.monotonic() * 1000) & (_TICKS_PERIOD - 1)

    def ticks_add(t, delta):
        return (t + delta) & (_TICKS_PERIOD - 1)

    def ticks_diff(a, b):
        # Same wraparound rule as MicroPython: the signed distance within half a period.
        return ((a - b + _TICKS_HALF) & (_TICKS_PERIOD - 1)) - _TICKS_HALF


def print_exception(exc, file=None):
    """Print a traceback on either interpreter."""
    pe = getattr(sys, "print_exception", None)
    if pe is not None:
        if file is None:
            pe(exc)
        else:
            pe(exc, file)
        return
    import traceback

    traceback.print_exception(type(exc), exc, exc.__traceback__, file=file)
