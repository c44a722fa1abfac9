"""Helpers shared by the dual-interpreter tests: pytest on CPython, tests/dual/runner.py on MicroPython."""

import os


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and require it to raise exc_type; return the exception for further checks."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s from %r" % (exc_type.__name__, fn))


def fixture_path(name):
    """Absolute path of a file in tests/fixtures, found from this file on either interpreter."""
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    return here + "/../fixtures/" + name


def read_fixture(name, mode="rb"):
    with open(fixture_path(name), mode) as f:
        return f.read()


def fixture_exists(name):
    try:
        os.stat(fixture_path(name))
        return True
    except OSError:
        return False
