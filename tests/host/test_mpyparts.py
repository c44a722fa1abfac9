"""hostsim/mpyparts.py reads .mpy files as mpy-cross writes them: parts that add up, text told from names."""

import os
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hostsim import images, mpyparts

_MSG = "the address is not a care-of address this router serves"


def _compile(tmp_path, name, source):
    src = tmp_path / (name + ".py")
    src.write_text(source)
    out = tmp_path / (name + ".mpy")
    subprocess.run([images.mpy_cross_command(), *images.MPY_CROSS_FLAGS, "-o", str(out), str(src)], check=True)
    return out.read_bytes()


_PLAIN = """
class AddressError(Exception):
    pass

def check_address(address, prefix_octets):
    if len(address) != 16:
        raise AddressError()
    return address[:8] == prefix_octets
"""


def test_parts_add_up_to_the_file(tmp_path):
    b = _compile(tmp_path, "plain", _PLAIN)
    p = mpyparts.parse(b)
    assert p["header"] + sum(n for _, n in p["names"]) + sum(c[2] for c in p["constants"]) + p["code"] == len(b)
    names = [s for s, _ in p["names"]]
    assert "check_address" in names and "AddressError" in names and "prefix_octets" in names
    assert p["code"] > 0


def test_message_text_is_counted_as_text_and_not_in_the_floor(tmp_path):
    plain = mpyparts.image_parts([_compile(tmp_path, "plain", _PLAIN)])
    worded = mpyparts.image_parts([_compile(tmp_path, "worded", _PLAIN.replace("AddressError()", "AddressError(%r)" % _MSG))])
    assert plain["text_bytes"] == 0  # the source file name (the first name) is a name, not text
    assert worded["text_bytes"] >= len(_MSG)
    assert worded["bytes"] - plain["bytes"] >= len(_MSG)
    # The message costs text and a few octets of bytecode to load it; the floor moves only by those.
    assert 0 <= worded["floor_bytes"] - plain["floor_bytes"] <= 4


def test_a_name_used_by_two_modules_is_stored_twice_but_counted_once_in_the_floor(tmp_path):
    a = _compile(tmp_path, "a", "def check_address(address_to_check):\n    return address_to_check\n")
    b = _compile(tmp_path, "b", "from a import check_address\ndef use(address_to_check):\n    return check_address(address_to_check)\n")
    both = mpyparts.image_parts([a, b])
    alone = [mpyparts.image_parts([x]) for x in (a, b)]
    assert both["bytes"] == alone[0]["bytes"] + alone[1]["bytes"]
    assert both["name_bytes"] == alone[0]["name_bytes"] + alone[1]["name_bytes"]
    # Shared: the two identifiers, and the built-in names both refer to by index ("<module>").
    built_in = [dict(n for n in mpyparts.parse(x)["names"] if n[0].startswith("#")) for x in (a, b)]
    assert built_in[0] and built_in[1]
    shared = len("check_address") + 2 + len("address_to_check") + 2
    shared += sum(n for s, n in built_in[0].items() if s in built_in[1])
    assert both["unique_name_bytes"] == alone[0]["unique_name_bytes"] + alone[1]["unique_name_bytes"] - shared
    assert both["floor_bytes"] == both["bytes"] - both["name_bytes"] + both["unique_name_bytes"] - both["text_bytes"] - sum(
        mpyparts.parse(x)["header"] for x in (a, b))


def test_every_firmware_module_parses(tmp_path):
    sizes = images.compile_all(str(tmp_path / "all"))
    srcs = images.firmware_modules()
    for mod in sizes:
        b = (tmp_path / "all" / images.mpy_relpath(mod, srcs[mod])).read_bytes()
        p = mpyparts.parse(b)
        assert p["header"] + sum(n for _, n in p["names"]) + sum(c[2] for c in p["constants"]) + p["code"] == len(b), mod


@pytest.mark.parametrize("blob", [b"", b"M", b"M\x05\x00\x1f", b"X\x06\x00\x1f\x00\x00", b"M\x06\x00\x1f\x01", b"M\x06\x00\x1f\x01\x00\x06ab"])
def test_not_an_mpy_file_is_a_format_error(blob):
    with pytest.raises(mpyparts.MpyFormatError):
        mpyparts.parse(blob)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64))
def test_any_octets_give_parts_or_a_format_error(tail):
    try:
        p = mpyparts.parse(b"M\x06\x00\x1f" + tail)
    except mpyparts.MpyFormatError:
        return
    assert p["code"] >= 0
