"""What a .mpy file (format 6, MicroPython 1.20 and later) spends its octets on: names, constants, bytecode.

A .mpy file is a 4-octet header, two counts, a table of the names (qstrs) its code uses, a
table of constant objects, then the bytecode of every function (the rest of the file). Each
file carries its own copy of every name it uses, so an image of many modules stores common
names many times, and error messages sit in the name table (short ones) or the constant table.

image_floor() answers: how small could an image be with the same code, if no error text were
kept and no name stored twice (as if every module were one file)? That is the bytecode plus one
copy of each identifier plus the non-text constants. `hostsim footprint` reports it beside the
image size, to show how much of an image is code and how much is wording and duplication.
"""

MPY_VERSION = 6

# Constant kinds (py/persistentcode.h, MP_PERSISTENT_OBJ_*).
_STR = 5
_BYTES = 6
_TUPLE = 10
_LAST_SIMPLE = 4  # fun table, None, False, True, Ellipsis: the kind octet alone


class MpyFormatError(ValueError):
    pass


def _vuint(b, i):
    """Variable-length unsigned int (7 bits an octet, high bit = more), and the offset after it."""
    v = 0
    while True:
        if i >= len(b):
            raise MpyFormatError("truncated")
        c = b[i]
        i += 1
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            return v, i


def _is_name(s):
    # Identifiers and the compiler's own names (<module>, <listcomp>, ...) are names; anything
    # else in the name table (with spaces, punctuation) is text a message carries.
    return s.isidentifier() or (s.startswith("<") and s.endswith(">")) or s.startswith("#")


def parse(b):
    """The parts of one .mpy file: {header, names: [(text, octets)], constants: [(kind, payload,
    octets)], code}: header is the octets before the name table, each entry's octets are what
    it takes in the file (a name built into the firmware is "#index"), code is the bytecode
    (the rest). MpyFormatError for anything that is not a format-6 .mpy file."""
    if len(b) < 4 or b[0] != ord("M") or b[1] != MPY_VERSION:
        raise MpyFormatError("not a format-%d .mpy file" % MPY_VERSION)
    n_names, i = _vuint(b, 4)
    n_consts, i = _vuint(b, i)
    header = i
    names = []
    for _ in range(n_names):
        start = i
        v, i = _vuint(b, i)
        if v & 1:
            # A name built into the firmware, stored as its index only: "#index" here.
            names.append(("#%d" % (v >> 1), i - start))
            continue
        n = v >> 1
        if i + n >= len(b) or b[i + n] != 0:
            raise MpyFormatError("bad name entry")
        try:
            text = b[i : i + n].decode()
        except UnicodeDecodeError:
            raise MpyFormatError("name not UTF-8") from None
        names.append((text, i + n + 1 - start))
        i += n + 1
    consts = []

    def const(i):
        start = i
        if i >= len(b):
            raise MpyFormatError("truncated")
        kind = b[i]
        i += 1
        if kind <= _LAST_SIMPLE:
            return (kind, b"", i - start), i
        if kind == _TUPLE:
            count, i = _vuint(b, i)
            for _ in range(count):
                _, i = const(i)
            return (kind, b"", i - start), i
        n, i = _vuint(b, i)
        payload = b[i : i + n]
        i += n + (1 if kind in (_STR, _BYTES) else 0)  # str and bytes end with a zero octet
        if i > len(b):
            raise MpyFormatError("truncated")
        return (kind, payload, i - start), i

    for _ in range(n_consts):
        c, i = const(i)
        consts.append(c)
    return {"header": header, "names": names, "constants": consts, "code": len(b) - i}


def image_parts(blobs):
    """Octet totals over the .mpy files of one image (an iterable of file contents):
    bytes (the files), code_bytes (bytecode), name_bytes (every file's name table),
    unique_name_bytes (one copy of each identifier), constant_bytes, text_bytes (message text:
    string constants and names that are not identifiers) and floor_bytes (bytecode + one copy
    of each identifier + the constants that are not text)."""
    total = code = name_octets = const_octets = text = str_consts = 0
    unique = {}
    for b in blobs:
        p = parse(b)
        total += len(b)
        code += p["code"]
        for k, (s, n) in enumerate(p["names"]):
            name_octets += n
            if k == 0 or _is_name(s):  # the first entry is the module's source file name
                unique[s] = n
            else:
                text += n
        for kind, _payload, n in p["constants"]:
            const_octets += n
            if kind == _STR:
                str_consts += n
    text += str_consts
    return {
        "bytes": total,
        "code_bytes": code,
        "name_bytes": name_octets,
        "unique_name_bytes": sum(unique.values()),
        "constant_bytes": const_octets,
        "text_bytes": text,
        "floor_bytes": code + sum(unique.values()) + const_octets - str_consts,
    }
