"""The daemon: a router or mobile node engine on real Linux interfaces, through packet sockets.

    python -m handoverkey.daemon --role router|mobile --interface IF[,IF...] --config FILE.json
        [--handover predictive|reactive|none] [--control PATH] [--log FILE] [-v]
    python -m handoverkey.daemon --control PATH --send "COMMAND"
    (MicroPython: MICROPYPATH=firmware micropython -X heapsize=8M -m handoverkey.daemon ...)

Frames: one AF_PACKET/SOCK_RAW socket per interface, bound to ETH_P_IPV6, in and out. The
engines speak whole IPv6 packets; this module strips and adds the Ethernet header, so hop
limit 255, the Home Address option and every checksum reach the wire exactly as the engine
made them and the kernel's IPv6 stack is never asked to send anything. The MicroPython unix
port has no AF_PACKET constant but passes a family number and a raw `struct sockaddr_ll`
straight to the kernel, so both interpreters use the same socket; only the bind address
form differs (bytes on MicroPython, an (ifname, proto) tuple on CPython).

Destination MACs: multicast ff02::/16 -> 33:33 + the low 32 bits; a reply to the packet
being handled -> that packet's source MAC on its interface; otherwise the neighbour cache
(IPv6 source -> interface and MAC of frames received), then "routes" from the config, then
(mobile node) the router of the current link: the source MAC of the certified CPA/PrRtAdv,
and after a link change the NAR's link-layer address from the accepted PrRtAdv.

Config: the engine dict of config.py plus the daemon keys in DAEMON_KEYS (docs/daemon.md).
A bad command line or config is one line on stderr and exit status 2.

Stopping: SIGINT (both interpreters: KeyboardInterrupt) and SIGTERM (CPython: a handler)
stop the loop and log "stopped". The MicroPython unix port has no `signal` module, so there
SIGTERM keeps its default action (immediate exit; the kernel closes the sockets, every log
line was already flushed); use SIGINT or the control command "quit" for a logged shutdown.
"""

import json
import os
import select
import socket
import sys
import time

from ._compat import IS_MICROPYTHON, ticks_diff, ticks_ms
from .errors import DecodeError, EncodeError, HandoverKeyError

AF_PACKET = 17
ETH_P_IPV6 = 0x86DD
ETH_HLEN = 14
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_ALLMULTI = 2
ARPHRD_ETHER = 1

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

_RX_MAX = 2048
_CACHE_MAX = 64
_SOURCES_MAX = 64
_CTL_MAX = 512

DAEMON_KEYS = (
    "interfaces", "keylog_path", "log_path", "control_path", "handover", "routes", "gateway_mac",
    "rate_limit_pps", "rate_limit_burst", "source_rate_pps", "source_rate_burst", "link_poll_ms", "auto_attach",
    "key_store", "device_secret_path", "checkpoint_interval_s",
)
# Events after which the router's key table differs from its last checkpoint.
_TABLE_CHANGES = ("key-provisioned", "fbu-accepted", "key-discarded", "keys-expired")
HANDOVER_MODES = ("none", "predictive", "reactive")
KEYLOG_HEADER = "# handoverkey key log: secret keys follow; for test and lab networks only"

USAGE = (
    "usage: python -m handoverkey.daemon --role router|mobile --interface IF[,IF...] --config FILE.json\n"
    "           [--handover predictive|reactive|none] [--control PATH] [--log FILE] [-v]\n"
    "       python -m handoverkey.daemon --control PATH --send COMMAND"
)

# Event fields that could carry key material: never logged, whatever an engine puts there.
_SECRET_FIELDS = ("key", "line", "hk", "secret", "private")
# 16-octet event fields that are IPv6 addresses (others, like key_hash, print as hex).
_ADDRESS_FIELDS = ("router", "pcoa", "ncoa", "coa", "mn", "source", "address", "src", "dst")


class UsageError(HandoverKeyError):
    """A bad command line or daemon config: reported in one line, exit status 2."""


class StartError(HandoverKeyError):
    """The config is fine but the system refused something (a socket, a file): exit status 1."""


# -- Ethernet framing (pure functions: tests/dual/test_daemon_framing.py) --


def parse_mac(text):
    """'02:00:00:00:a0:01', '02-00-...' or '020000...' -> 6 octets; UsageError otherwise."""
    if not isinstance(text, str):
        raise UsageError("MAC address: expected a string")
    t = text.replace(":", "").replace("-", "")
    try:
        b = bytes.fromhex(t)
    except ValueError:
        raise UsageError("MAC address %s: not hex" % text)
    if len(b) != 6:
        raise UsageError("MAC address %s: expected 6 octets" % text)
    return b


def mac_text(mac):
    return ":".join(["%02x" % b for b in mac])


def parse_address(text):
    """An IPv6 address as text ('2001:db8::1') or as 32 hex digits -> 16 octets."""
    if not isinstance(text, str):
        raise UsageError("IPv6 address: expected a string")
    try:
        if ":" in text:
            b = socket.inet_pton(socket.AF_INET6, text)
        else:
            b = bytes.fromhex(text)
    except (ValueError, OSError):
        raise UsageError("IPv6 address %s: not an address" % text)
    if len(b) != 16:
        raise UsageError("IPv6 address %s: expected 16 octets" % text)
    return bytes(b)


def address_text(addr):
    return socket.inet_ntop(socket.AF_INET6, bytes(addr))


def multicast_mac(dst):
    """RFC 2464 §7: 33:33 followed by the last four octets of the IPv6 destination."""
    return b"\x33\x33" + bytes(dst[12:16])


def eth_frame(dst_mac, src_mac, packet):
    """An Ethernet II frame carrying one IPv6 packet (no padding: the NIC pads to 60)."""
    if len(dst_mac) != 6 or len(src_mac) != 6:
        raise EncodeError("MAC addresses are 6 octets")
    out = bytearray(ETH_HLEN + len(packet))
    out[0:6] = dst_mac
    out[6:12] = src_mac
    out[12] = ETH_P_IPV6 >> 8
    out[13] = ETH_P_IPV6 & 0xFF
    out[ETH_HLEN:] = packet
    return bytes(out)


def eth_parse(frame):
    """(dst MAC, src MAC, IPv6 packet) of an Ethernet II IPv6 frame, or None for anything else."""
    if len(frame) < ETH_HLEN + 40:
        return None
    if frame[12] != ETH_P_IPV6 >> 8 or frame[13] != ETH_P_IPV6 & 0xFF:
        return None
    if frame[ETH_HLEN] & 0xF0 != 0x60:
        return None
    return bytes(frame[0:6]), bytes(frame[6:12]), bytes(frame[ETH_HLEN:])


def accept_frame(dst_hw, src_hw, own_hw):
    """Frames for this interface: to its MAC or to a group; never its own (or its kernel's) frames."""
    if src_hw == own_hw:
        return False
    return dst_hw == own_hw or (dst_hw[0] & 1) == 1


def htons(v):
    if sys.byteorder == "little":
        return ((v & 0xFF) << 8) | (v >> 8)
    return v


def sockaddr_ll(ifindex, proto=ETH_P_IPV6):
    """struct sockaddr_ll (20 octets) for bind(): family and ifindex in host order, protocol in network order."""
    order = sys.byteorder
    return (
        AF_PACKET.to_bytes(2, order) + proto.to_bytes(2, "big") + ifindex.to_bytes(4, order)
        + ARPHRD_ETHER.to_bytes(2, order) + bytes(10)
    )


def packet_mreq(ifindex, mr_type):
    """struct packet_mreq (16 octets) for PACKET_ADD_MEMBERSHIP."""
    order = sys.byteorder
    return ifindex.to_bytes(4, order) + mr_type.to_bytes(2, order) + bytes(10)


def sockaddr_un(path):
    return socket.AF_UNIX.to_bytes(2, sys.byteorder) + bytes(path, "utf-8") + b"\x00"


def prefix_match(addr, prefix, plen):
    full = plen >> 3
    if bytes(addr[:full]) != bytes(prefix[:full]):
        return False
    rest = plen & 7
    if rest == 0:
        return True
    mask = (0xFF << (8 - rest)) & 0xFF
    return (addr[full] & mask) == (prefix[full] & mask)


def nar_lla(packet):
    """The NAR's link-layer address (LLA option code 3, first 6 octets) of a PrRtAdv, or None."""
    from .wire import icmp, ipv6, ndopt

    try:
        pkt = ipv6.decode_packet(packet)
        if pkt.next_header != 58 or packet[pkt.payload_off] != icmp.ICMP_FMIPV6:
            return None
        msg = icmp.decode_icmp(packet, pkt.payload_off, pkt.payload_end)
        for o in msg.find_all(ndopt.OPT_LLA):
            lla = ndopt.get_lla(packet, o[1], o[2])
            if lla.code == ndopt.LLA_NAR and len(lla.lla) >= 6:
                return bytes(lla.lla[:6])
    except DecodeError:
        return None
    return None


def upper_layer(packet):
    """(next header, offset) of the upper layer after at most Hop-by-Hop and Destination Options
    headers, bounds-checked and allocation-free; (-1, 0) when the headers do not fit."""
    nh = packet[6]
    off = 40
    n = len(packet)
    hops = 0
    while nh == 0 or nh == 60:
        if hops == 2 or off + 2 > n:
            return -1, 0
        hops += 1
        nxt = packet[off]
        off += (packet[off + 1] + 1) * 8
        nh = nxt
    if off > n:
        return -1, 0
    return nh, off


def expensive(packet):
    """Frames that make an engine verify or sign: CPS, FMIPv6 messages and Mobility Headers.
    Only these count against the rate limits, so kernel MLD/ND chatter never starves them."""
    nh, off = upper_layer(packet)
    if nh == 58:
        return off < len(packet) and packet[off] in (148, 154)
    return nh == 135


def format_event(kind, fields):
    """One log line body: the event kind then sorted key=value pairs; addresses as text, other bytes as hex."""
    parts = [kind]
    names = sorted(fields)
    for name in names:
        if name in _SECRET_FIELDS:
            continue
        v = fields[name]
        if isinstance(v, (bytes, bytearray, memoryview)):
            v = bytes(v)
            v = address_text(v) if len(v) == 16 and name in _ADDRESS_FIELDS else v.hex()
        elif isinstance(v, bool):
            v = "yes" if v else "no"
        elif isinstance(v, (list, tuple)):
            v = ",".join([str(x) for x in v])
        parts.append("%s=%s" % (name, v))
    return " ".join(parts)


# -- small pieces of state --


class Clock:
    """Monotonic milliseconds that never wrap (the engines compare now_ms with plain < and +)."""

    def __init__(self):
        self._last = ticks_ms()
        self.now = 0

    def ms(self):
        t = ticks_ms()
        d = ticks_diff(t, self._last)
        if d > 0:
            self.now += d
            self._last = t
        return self.now


class TokenBucket:
    """rate tokens per second up to burst, in integer milli-tokens; rate 0 means no limit."""

    def __init__(self, rate, burst, now_ms):
        self.rate = rate
        self.cap = burst * 1000
        self.tokens = self.cap
        self.at = now_ms

    def take(self, now_ms):
        if self.rate == 0:
            return True
        elapsed = now_ms - self.at
        if elapsed > 0:
            self.tokens += elapsed * self.rate
            if self.tokens > self.cap:
                self.tokens = self.cap
            self.at = now_ms
        if self.tokens >= 1000:
            self.tokens -= 1000
            return True
        return False


class NeighborCache:
    """IPv6 address -> (link index, MAC), learned from received frames; bounded, oldest out."""

    def __init__(self, capacity=_CACHE_MAX):
        self.capacity = capacity
        self._d = {}
        self._order = []

    def learn(self, addr, link, mac):
        addr = bytes(addr)
        if addr in self._d:
            self._order.remove(addr)
        elif len(self._order) >= self.capacity:
            del self._d[self._order.pop(0)]
        self._d[addr] = (link, mac)
        self._order.append(addr)

    def get(self, addr):
        return self._d.get(bytes(addr))

    def clear(self):
        self._d = {}
        self._order = []

    def __len__(self):
        return len(self._order)


# -- command line and config --


def parse_args(argv):
    """argv (without the program name) -> dict; UsageError for anything malformed."""
    opts = {"role": None, "interfaces": [], "config": None, "handover": None, "control": None,
            "log": None, "verbose": False, "send": None}
    i = 0
    n = len(argv)
    while i < n:
        a = argv[i]
        if a in ("-h", "--help"):
            opts["help"] = True
            i += 1
            continue
        if a in ("-v", "--verbose"):
            opts["verbose"] = True
            i += 1
            continue
        value = None
        if a.startswith("--") and "=" in a:
            a, value = a.split("=", 1)
        if a not in ("--role", "--interface", "--config", "--handover", "--control", "--log", "--send"):
            raise UsageError("unknown argument: " + a)
        if value is None:
            if i + 1 >= n:
                raise UsageError(a + " needs a value")
            value = argv[i + 1]
            i += 2
        else:
            i += 1
        if a == "--interface":
            for name in value.split(","):
                if name:
                    opts["interfaces"].append(name)
        else:
            opts[a[2:]] = value
    if opts.get("help") or opts["send"] is not None:
        if opts["send"] is not None and not opts["control"]:
            raise UsageError("--send needs --control PATH")
        return opts
    if opts["role"] not in ("router", "mobile"):
        raise UsageError("--role must be router or mobile")
    if not opts["config"]:
        raise UsageError("--config FILE.json is required")
    if opts["handover"] is not None and opts["handover"] not in HANDOVER_MODES:
        raise UsageError("--handover must be predictive, reactive or none")
    return opts


def _int_key(cfg, name, default, lo, hi):
    v = cfg.get(name, default)
    if type(v) is not int or v < lo or v > hi:
        raise UsageError("config key %s: expected an integer %d..%d" % (name, lo, hi))
    return v


def _str_key(cfg, name):
    v = cfg.get(name)
    if v is not None and (not isinstance(v, str) or not v):
        raise UsageError("config key %s: expected a non-empty string" % name)
    return v


def _keyed(name, parse, value):
    try:
        return parse(value)
    except UsageError as e:
        raise UsageError("config key %s: %s" % (name, e.msg))


def load_config(path, role, opts=None):
    """Read FILE.json -> (engine config dict, daemon settings dict). UsageError on any problem."""
    opts = opts or {}
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise UsageError("cannot read config %s: %s" % (path, _oserror_text(e)))
    try:
        cfg = json.loads(text)
    except ValueError:
        raise UsageError("config %s: not valid JSON" % path)
    if not isinstance(cfg, dict):
        raise UsageError("config %s: must be a JSON object" % path)
    if "role" in cfg and cfg["role"] != role:
        raise UsageError("config %s: written for role %s, started as %s" % (path, cfg["role"], role))
    engine_cfg = {}
    d = {}
    for k in cfg:
        if k in DAEMON_KEYS:
            d[k] = cfg[k]
        else:
            engine_cfg[k] = cfg[k]
    s = {}
    ifs = opts.get("interfaces") or d.get("interfaces") or []
    if isinstance(ifs, str):
        ifs = [x for x in ifs.split(",") if x]
    if not isinstance(ifs, list) or not ifs or [x for x in ifs if not isinstance(x, str) or not x]:
        raise UsageError("no interface: give --interface IF or config key interfaces")
    s["interfaces"] = ifs
    s["keylog_path"] = _str_key(d, "keylog_path")
    s["log_path"] = opts.get("log") or _str_key(d, "log_path")
    s["control_path"] = opts.get("control") or _str_key(d, "control_path")
    handover = opts.get("handover") or d.get("handover", "none")
    if handover not in HANDOVER_MODES:
        raise UsageError("config key handover: must be predictive, reactive or none")
    if role == "router" and handover != "none":
        raise UsageError("handover is a mobile node setting")
    if handover == "predictive" and not s["control_path"]:
        raise UsageError("handover predictive needs a control socket (--control PATH) to say when to move")
    s["handover"] = handover
    limited = role == "router"
    s["rate_limit_pps"] = _int_key(d, "rate_limit_pps", 10 if limited else 0, 0, 100000)
    s["rate_limit_burst"] = _int_key(d, "rate_limit_burst", 20, 1, 100000)
    s["source_rate_pps"] = _int_key(d, "source_rate_pps", 2 if limited else 0, 0, 100000)
    # source_rate_burst, not source_burst: that name is the router engine's (config_router.py).
    s["source_rate_burst"] = _int_key(d, "source_rate_burst", 6, 1, 100000)
    s["link_poll_ms"] = _int_key(d, "link_poll_ms", 1000 if limited else 200, 10, 60000)
    auto = d.get("auto_attach", True)
    if not isinstance(auto, bool):
        raise UsageError("config key auto_attach: expected true or false")
    s["auto_attach"] = auto
    gw = d.get("gateway_mac")
    s["gateway_mac"] = _keyed("gateway_mac", parse_mac, gw) if gw is not None else None
    routes = d.get("routes", [])
    if not isinstance(routes, list):
        raise UsageError("config key routes: expected a list")
    s["routes"] = []
    for r in routes:
        if not isinstance(r, dict):
            raise UsageError("config key routes: each route is an object")
        for need in ("prefix", "interface", "mac"):
            if need not in r:
                raise UsageError("config key routes: a route needs " + need)
        plen = _int_key(r, "prefix_len", 64, 0, 128)
        if r["interface"] not in ifs:
            raise UsageError("config key routes: interface %s is not one of the daemon's" % r["interface"])
        s["routes"].append((_keyed("routes", parse_address, r["prefix"]), plen, r["interface"],
                            _keyed("routes", parse_mac, r["mac"])))
    s["key_store"] = _str_key(d, "key_store")
    s["device_secret_path"] = _str_key(d, "device_secret_path")
    s["checkpoint_interval_s"] = _int_key(d, "checkpoint_interval_s", 10, 1, 86400)
    if s["key_store"] and role != "router":
        raise UsageError("key_store is a router setting")
    if s["key_store"] and not s["device_secret_path"]:
        raise UsageError("config key key_store: set device_secret_path (the file holding the device secret)")
    if role == "mobile":
        if engine_cfg.get("keylog") and not s["keylog_path"]:
            raise UsageError("config key keylog: set keylog_path to say where the keys go")
        engine_cfg["keylog"] = bool(s["keylog_path"])
    elif "keylog" in engine_cfg:
        raise UsageError("unknown config key: keylog")
    return engine_cfg, s


def build(role, engine_cfg):
    """The engine, or UsageError with the config module's one-line reason."""
    from .config import build_engine

    try:
        return build_engine(role, engine_cfg)
    except (HandoverKeyError, TypeError, ValueError, KeyError, AttributeError, IndexError) as e:
        text = getattr(e, "msg", "") or str(e) or type(e).__name__
        raise UsageError("config: " + text.replace("\n", " "))


def _oserror_text(e):
    n = e.args[0] if e.args else 0
    names = {1: "EPERM", 2: "ENOENT", 13: "EACCES", 19: "ENODEV", 22: "EINVAL", 100: "ENETDOWN", 6: "ENXIO",
             98: "EADDRINUSE", 111: "ECONNREFUSED"}
    if isinstance(n, int):
        return "[Errno %d] %s" % (n, names.get(n, "error"))
    return str(e)


def _clear_stale_socket(path):
    """Remove a socket left at `path` by a daemon that was killed. Anything else there (a file,
    or a socket a live daemon still listens on) is refused rather than taken over."""
    try:
        mode = os.stat(path)[0]
    except OSError:
        return  # nothing there
    if mode & 0o170000 != 0o140000:
        raise UsageError("control socket %s: exists and is not a socket" % path)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.connect(sockaddr_un(path) if IS_MICROPYTHON else path)
        live = True
    except OSError:
        live = False  # ECONNREFUSED: nobody bound to it any more
    probe.close()
    if live:
        raise UsageError("control socket %s: another daemon is listening on it" % path)
    try:
        os.remove(path)
    except OSError:
        pass


def _open_private(path):
    """Append to a file only its owner may read (CPython: created 0600). The MicroPython unix port
    has no os.open/chmod: there the process umask decides (run the daemon with umask 077)."""
    if IS_MICROPYTHON:
        return open(path, "a")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a")


# -- one interface --


def _sysfs(name, leaf):
    with open("/sys/class/net/%s/%s" % (name, leaf)) as f:
        return f.read().strip()


class Link:
    """One interface: a packet socket bound to it for ETH_P_IPV6 frames, its MAC, its carrier."""

    def __init__(self, index, name):
        self.index = index
        self.name = name
        self.sock = None
        self.ifindex = 0
        self.mac = b""
        self.up = False
        self.changes = -1
        self.gone = False

    def open(self):
        try:
            self.ifindex = int(_sysfs(self.name, "ifindex"))
            self.mac = parse_mac(_sysfs(self.name, "address"))
        except (OSError, ValueError, UsageError):
            raise UsageError("interface %s: no such Ethernet interface" % self.name)
        s = socket.socket(AF_PACKET, socket.SOCK_RAW, htons(ETH_P_IPV6))
        try:
            if IS_MICROPYTHON:
                s.bind(sockaddr_ll(self.ifindex))
            else:
                s.bind((self.name, ETH_P_IPV6))
            # Real NICs filter multicast: take every group (ff02::2, solicited-node, ...).
            s.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, packet_mreq(self.ifindex, PACKET_MR_ALLMULTI))
        except Exception:
            s.close()
            raise
        self.sock = s
        self.read_carrier()

    def read_carrier(self):
        """(changed, up): re-read the carrier; `changed` when it went down or up since the last read."""
        try:
            up = _sysfs(self.name, "carrier") == "1"
        except OSError as e:
            up = False  # EINVAL while administratively down
            if e.args and e.args[0] == 2:
                self.gone = True  # ENOENT: the interface was deleted (or left our namespace)
        try:
            changes = int(_sysfs(self.name, "carrier_changes"))
        except (OSError, ValueError):
            changes = -1
        changed = up != self.up or (changes != self.changes and changes >= 0 and self.changes >= 0)
        self.up = up
        self.changes = changes
        return changed, up

    def send(self, dst_mac, packet):
        self.sock.send(eth_frame(dst_mac, self.mac, packet))

    def recv(self):
        return self.sock.recv(_RX_MAX)

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# -- the daemon --


class LinkGone(Exception):
    """An interface the daemon was bound to no longer exists: nothing left to serve on it."""


class Stop(BaseException):
    """Raised by the CPython SIGTERM handler to leave the loop (not an Exception: nothing swallows it)."""


class Daemon:
    def __init__(self, role, engine, settings, verbose=False, out=None):
        self.role = role
        self.engine = engine
        self.s = settings
        self.verbose = verbose
        self.out = out or sys.stdout
        self.clock = Clock()
        self.links = [Link(i, n) for i, n in enumerate(settings["interfaces"])]
        self.cache = NeighborCache()
        self.routes = []
        self.gateway = None  # (link index, MAC) of the router on the current link (mobile)
        self.next_gateway = None  # the NAR's MAC from the accepted PrRtAdv (mobile)
        self.keylog = None
        self.ctl = None
        self.ctl_path = None
        self.running = True
        self.attached = False
        self.predictive_sent = False
        self._bucket = None
        self._sources = {}
        self._source_order = []
        self._limited = 0
        self._limited_logged_ms = -1000000
        self._fds = {}
        self._secret = None  # the device secret that seals the key store (router with key_store)
        self._dirty = False
        self._checkpoint_ms = 0

    # -- output --

    def log(self, text):
        t = time.gmtime(int(time.time()))
        line = "%04d-%02d-%02dT%02d:%02d:%02dZ %s %s\n" % (t[0], t[1], t[2], t[3], t[4], t[5], self.role, text)
        self.out.write(line)
        fl = getattr(self.out, "flush", None)
        if fl is not None:
            fl()

    def _keylog_line(self, line):
        if self.keylog is not None:
            self.keylog.write(line + "\n")
            self.keylog.flush()

    # -- set-up --

    def open(self):
        for link in self.links:
            try:
                link.open()
            except OSError as e:
                raise StartError("cannot open a packet socket on %s: %s (needs CAP_NET_RAW: run as root)" % (
                    link.name, _oserror_text(e)))
            self._fds[link.fileno()] = link
        names = [l.name for l in self.links]
        for prefix, plen, ifname, mac in self.s["routes"]:
            self.routes.append((prefix, plen, names.index(ifname), mac))
        if self.s["gateway_mac"] is not None:
            self.gateway = (0, self.s["gateway_mac"])
        now = self.clock.ms()
        self._bucket = TokenBucket(self.s["rate_limit_pps"], self.s["rate_limit_burst"], now)
        if self.s["keylog_path"]:
            try:
                self.keylog = _open_private(self.s["keylog_path"])
            except OSError as e:
                raise StartError("cannot open key log %s: %s" % (self.s["keylog_path"], _oserror_text(e)))
            self.keylog.write(KEYLOG_HEADER + "\n")
            self.keylog.flush()
            self.log("warning: writing secret keys to %s (for test and lab networks only)" % self.s["keylog_path"])
        if self.s["control_path"]:
            self._open_control(self.s["control_path"])
        if self.s["key_store"]:
            self._restore_keys()
        lla = getattr(self.engine, "lla", None)
        for link in self.links:
            self.log("interface %s ifindex=%d mac=%s carrier=%s" % (
                link.name, link.ifindex, mac_text(link.mac), "up" if link.up else "down"))
        if lla and lla != self.links[0].mac:
            self.log("warning: config lla %s differs from %s's MAC %s" % (
                mac_text(lla), self.links[0].name, mac_text(self.links[0].mac)))

    def _restore_keys(self):
        """Put back the keys of the last checkpoint; a refused store is logged and the router starts empty."""
        try:
            with open(self.s["device_secret_path"], "rb") as f:
                secret = f.read().strip()
        except OSError as e:
            raise StartError("cannot read device secret %s: %s" % (self.s["device_secret_path"], _oserror_text(e)))
        if len(secret) < 16:
            raise StartError("device secret %s: at least 16 octets are needed" % self.s["device_secret_path"])
        self._secret = secret
        try:
            os.stat(self.s["key_store"])
        except OSError:
            self.log("key-store path=%s absent: starting empty" % self.s["key_store"])
            return
        self._run_engine("restore", None, self.s["key_store"], secret)

    def checkpoint(self):
        """Seal the key table now, if it changed since the last checkpoint."""
        if self._secret is None or not self._dirty:
            return
        self._dirty = False
        self._checkpoint_ms = self.clock.ms()
        _, events = self._run_engine("checkpoint", None, self.s["key_store"], self._secret)
        if not [k for k, _ in events if k == "keys-checkpointed"]:
            # Not written (checkpoint-failed, or an engine error): the table still differs from
            # the store, so the next interval and the clean stop try again.
            self._dirty = True

    def _open_control(self, path):
        _clear_stale_socket(path)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            c.bind(sockaddr_un(path) if IS_MICROPYTHON else path)
        except OSError as e:
            c.close()
            raise UsageError("control socket %s: %s" % (path, _oserror_text(e)))
        # Replies must never block the loop: a client that does not read its replies fills its
        # queue, and then the reply is dropped (sendto fails with EAGAIN) instead of waited for.
        c.setblocking(False)
        self.ctl = c
        self.ctl_path = path
        self._fds[c.fileno()] = None

    def close(self):
        for link in self.links:
            link.close()
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
            try:
                os.remove(self.ctl_path)
            except OSError:
                pass
        if self.keylog is not None:
            self.keylog.close()
            self.keylog = None

    # -- the loop --

    def run(self):
        poller = select.poll()
        for link in self.links:
            poller.register(link.sock, select.POLLIN)
        if self.ctl is not None:
            poller.register(self.ctl, select.POLLIN)
        self.log("started role=%s interfaces=%s handover=%s" % (
            self.role, ",".join([l.name for l in self.links]), self.s["handover"]))
        if self.role == "mobile" and self.s["auto_attach"] and self.links[0].up:
            self._attach()
        next_link_ms = self.clock.ms() + self.s["link_poll_ms"]
        next_house_ms = self.clock.ms() + 1000
        while self.running:
            now = self.clock.ms()
            wait = next_link_ms - now
            deadline = self.engine.next_deadline()
            if deadline is not None and deadline - now < wait:
                wait = deadline - now
            if self.role == "router" and next_house_ms - now < wait:
                # Housekeeping (key expiry, checkpoints) runs every second whatever link_poll_ms is.
                wait = next_house_ms - now
            if wait < 0:
                wait = 0
            for obj, ev in poller.poll(wait):
                fd = obj if isinstance(obj, int) else obj.fileno()
                if fd not in self._fds:
                    continue
                link = self._fds[fd]
                if link is None:
                    self._control()
                elif ev & select.POLLIN:
                    self._receive(link)
                elif ev & (select.POLLERR | select.POLLHUP):
                    self._drain_error(link)
            now = self.clock.ms()
            deadline = self.engine.next_deadline()
            if deadline is not None and now >= deadline:
                self._run_engine("poll", None)
            if now >= next_house_ms and self.role == "router":
                self._run_engine("poll", None)
                next_house_ms = now + 1000
                if self._dirty and now - self._checkpoint_ms >= self.s["checkpoint_interval_s"] * 1000:
                    self.checkpoint()
            if now >= next_link_ms:
                self._watch_links()
                next_link_ms = now + self.s["link_poll_ms"]

    def _drain_error(self, link):
        try:
            link.recv()
        except OSError as e:
            self.log("receive-error interface=%s %s" % (link.name, _oserror_text(e)))

    def _receive(self, link):
        try:
            frame = link.recv()
        except OSError as e:
            self.log("receive-error interface=%s %s" % (link.name, _oserror_text(e)))
            return
        parsed = eth_parse(frame)
        if parsed is None:
            return
        dst_mac, src_mac, packet = parsed
        if not accept_frame(dst_mac, src_mac, link.mac):
            return
        src = packet[8:24]
        if src != bytes(16) and src[0] != 0xFF:
            self.cache.learn(src, link.index, src_mac)
        if self.verbose:
            self.log("rx interface=%s from=%s src=%s dst=%s len=%d" % (
                link.name, mac_text(src_mac), address_text(src), address_text(packet[24:40]), len(packet)))
        if not self._admit(packet, src):
            return
        self._run_engine("handle", (link, src_mac, packet))

    def _admit(self, packet, src):
        if not expensive(packet):
            return True
        now = self.clock.ms()
        ok = self._bucket.take(now)
        if ok and self.s["source_rate_pps"]:
            b = self._sources.get(src)
            if b is None:
                if len(self._source_order) >= _SOURCES_MAX:
                    del self._sources[self._source_order.pop(0)]
                b = TokenBucket(self.s["source_rate_pps"], self.s["source_rate_burst"], now)
                self._sources[src] = b
                self._source_order.append(src)
            ok = b.take(now)
        if ok:
            return True
        self._limited += 1
        if now - self._limited_logged_ms >= 10000:
            self.log("rate-limited dropped=%d last-source=%s" % (self._limited, address_text(src)))
            self._limited_logged_ms = now
            self._limited = 0
        return False

    def _run_engine(self, what, arg, *extra):
        now = self.clock.ms()
        wall = int(time.time())
        try:
            if what == "handle":
                frames, events = self.engine.handle(arg[2], now, wall)
            elif what == "poll":
                frames, events = self.engine.poll(now, wall)
            else:
                frames, events = getattr(self.engine, what)(now, wall, *extra)
        except Exception as e:
            # One bad frame or an engine bug must not take the daemon down: say it, go on.
            self.log("engine-error call=%s %s: %s" % (what, type(e).__name__, getattr(e, "msg", "") or e))
            return [], []
        self._after(arg, events)
        if self._secret is not None and not self._dirty:
            for kind, _ in events:
                if kind in _TABLE_CHANGES:
                    self._dirty = True
                    break
        for f in frames:
            self._send(f, arg)
        for kind, fields in events:
            if kind == "keylog":
                self._keylog_line(fields.get("line", ""))
            else:
                self.log(format_event(kind, fields))
        return frames, events

    def _after(self, arg, events):
        """Mobile node: remember which MAC is the router here and which will be the NAR's."""
        if self.role != "mobile" or arg is None:
            return
        link, src_mac, packet = arg
        kinds = [k for k, _ in events]
        if "path-validated" in kinds or "key-stored" in kinds or "prrtadv-no-key" in kinds:
            self.gateway = (link.index, src_mac)
        if "key-stored" in kinds or "prrtadv-no-key" in kinds:
            lla = nar_lla(packet)
            if lla is not None and lla != self.next_gateway:
                self.next_gateway = lla
                self.log("nar-link-layer-address mac=%s" % mac_text(lla))

    def _route(self, packet, arg):
        """(link, dst MAC) for an outgoing packet, or (None, reason)."""
        dst = packet[24:40]
        if arg is not None:
            in_link, in_mac, in_packet = arg
            if dst == in_packet[8:24]:
                return in_link, in_mac
            if dst[0] == 0xFF:
                return in_link, multicast_mac(dst)
        if dst[0] == 0xFF:
            return self.links[0], multicast_mac(dst)
        hit = self.cache.get(dst)
        if hit is not None:
            return self.links[hit[0]], hit[1]
        for prefix, plen, idx, mac in self.routes:
            if prefix_match(dst, prefix, plen):
                return self.links[idx], mac
        if self.gateway is not None:
            return self.links[self.gateway[0]], self.gateway[1]
        return None, "no-route"

    def _send(self, packet, arg):
        link, mac = self._route(packet, arg)
        if link is None:
            self.log("send-dropped reason=%s dst=%s" % (mac, address_text(packet[24:40])))
            return
        try:
            link.send(mac, packet)
        except OSError as e:
            self.log("send-failed interface=%s dst=%s %s" % (link.name, address_text(packet[24:40]), _oserror_text(e)))
            return
        if self.verbose:
            self.log("tx interface=%s to=%s dst=%s len=%d" % (
                link.name, mac_text(mac), address_text(packet[24:40]), len(packet)))

    # -- mobile node control --

    def _attach(self):
        self.attached = True
        self._run_engine("attach", None)

    def _watch_links(self):
        for link in self.links:
            changed, up = link.read_carrier()
            if link.gone:
                raise LinkGone("interface %s is gone" % link.name)
            if not changed:
                continue
            self.log("link-%s interface=%s" % ("up" if up else "down", link.name))
            if self.role == "mobile" and up and link.index == 0:
                self._new_link()

    def _new_link(self):
        """The mobile node's interface came back: a new link (a handover), or the first one."""
        # A node that holds a key for the PAR is handing over, whatever else it is doing (a
        # refresh may be under way); one without is attaching (attach() drops any old key).
        held = self.engine.has_key(self.clock.ms())
        self.cache.clear()
        if not self.attached or not held:
            if self.s["auto_attach"]:
                self._attach()
            return
        if self.next_gateway is not None:
            self.gateway = (0, self.next_gateway)
        if self.predictive_sent:
            self.predictive_sent = False
            self._run_engine("arrived", None)
            self.log("arrived")
        elif self.s["handover"] == "reactive":
            self._run_engine("move", None, "reactive")

    def _control(self):
        try:
            data, addr = self.ctl.recvfrom(_CTL_MAX)
        except OSError:
            return
        try:
            cmd = str(data, "utf-8").strip()
        except UnicodeError:
            cmd = ""
        reply = self.command(cmd)
        self.log("control %s -> %s" % (cmd.split(" ")[0] if cmd else "(empty)", reply.split(" ")[0]))
        if addr and len(addr) > 2:
            try:
                self.ctl.sendto(bytes(reply, "utf-8"), addr)
            except OSError:
                pass

    def command(self, cmd):
        """One control command -> a one-line reply starting with ok or error."""
        words = cmd.split()
        if not words:
            return "error empty command"
        op = words[0]
        if op == "quit":
            self.running = False
            return "ok stopping"
        if op == "status":
            return "ok " + self.status()
        if self.role != "mobile":
            return "error %s: not a router command (status, quit)" % op
        if op == "attach":
            self._attach()
            return "ok attach"
        if op == "move":
            mode = words[1] if len(words) > 1 else self.s["handover"]
            if mode not in ("predictive", "reactive"):
                return "error move needs predictive or reactive"
            if mode == "reactive" and self.next_gateway is not None:
                self.gateway = (0, self.next_gateway)
            frames, events = self._run_engine("move", None, mode)
            if not frames:
                return "error move %s: no FBU sent (no handover key for the PAR yet)" % mode
            if mode == "predictive":
                self.predictive_sent = True
            return "ok move %s: FBU sent" % mode
        if op == "arrived":
            self.predictive_sent = False
            if self.next_gateway is not None:
                self.gateway = (0, self.next_gateway)
            self._run_engine("arrived", None)
            return "ok arrived"
        if op == "binding-complete":
            self._run_engine("binding_complete", None)
            return "ok binding-complete"
        return "error unknown command %s" % op

    def status(self):
        parts = ["role=" + self.role]
        st = getattr(self.engine, "state", None)
        if st is not None:
            parts.append("state=" + st)
            parts.append("certified=" + ("yes" if getattr(self.engine, "router_key", None) is not None else "no"))
        keys = getattr(self.engine, "keys", None)
        if keys is None:
            keys = getattr(self.engine, "table", None)
        if keys is not None:
            try:
                parts.append("keys=%d" % len(list(keys.items())))
            except (AttributeError, TypeError):
                pass
        fwd = getattr(self.engine, "forwarding", None)
        if fwd is not None:
            parts.append("forwarding=%d" % len(fwd))
        for link in self.links:
            parts.append("%s=%s" % (link.name, "up" if link.up else "down"))
        if self.gateway is not None:
            parts.append("gateway=" + mac_text(self.gateway[1]))
        return " ".join(parts)


# -- the control client --


def send_command(path, command, timeout_ms=5000):
    """Send one command to a daemon's control socket; (exit status, reply or error text)."""
    me = "%s.client-%s" % (path, os.urandom(4).hex())
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        try:
            c.bind(sockaddr_un(me) if IS_MICROPYTHON else me)
            c.connect(sockaddr_un(path) if IS_MICROPYTHON else path)
        except OSError as e:
            return EXIT_FAILURE, "cannot reach control socket %s: %s" % (path, _oserror_text(e))
        # Connected and non-blocking: a daemon whose queue is full makes the socket unwritable,
        # and the timeout covers that wait too, not only the one for the reply.
        c.setblocking(False)
        start = ticks_ms()
        p = select.poll()
        p.register(c, select.POLLOUT)
        if not p.poll(timeout_ms):
            return EXIT_FAILURE, "control socket %s is not taking commands" % path
        try:
            c.send(bytes(command, "utf-8"))
        except OSError as e:
            return EXIT_FAILURE, "cannot reach control socket %s: %s" % (path, _oserror_text(e))
        p = select.poll()
        p.register(c, select.POLLIN)
        # One timeout for the whole exchange: what the wait to send used is not given twice.
        if not p.poll(max(0, timeout_ms - ticks_diff(ticks_ms(), start))):
            return EXIT_FAILURE, "no reply from %s" % path
        reply = str(c.recv(_CTL_MAX), "utf-8")
        return (EXIT_OK if reply.startswith("ok") else EXIT_FAILURE), reply
    finally:
        c.close()
        try:
            os.remove(me)
        except OSError:
            pass


# -- entry point --


def _err(text):
    sys.stderr.write("handoverkey.daemon: %s\n" % text)


def _install_signals():
    """CPython: SIGTERM stops the loop like SIGINT, and SIGINT is taken even when the parent left
    it ignored (a background job of a shell), as the MicroPython unix port does. MicroPython has
    no signal module: its own SIGINT handler raises KeyboardInterrupt, SIGTERM stays default."""
    try:
        import signal
    except ImportError:
        return False

    def _on_term(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return True


def main(argv=None):
    if argv is None:
        argv = sys.argv[1:]
    try:
        opts = parse_args(argv)
    except UsageError as e:
        _err(e.msg + " (--help for usage)")
        return EXIT_USAGE
    if opts.get("help"):
        print(USAGE)
        return EXIT_OK
    if opts["send"] is not None:
        code, text = send_command(opts["control"], opts["send"])
        print(text)
        return code
    out = None
    d = None
    _install_signals()
    try:
        engine_cfg, settings = load_config(opts["config"], opts["role"], opts)
        engine = build(opts["role"], engine_cfg)
        if settings["log_path"]:
            try:
                out = open(settings["log_path"], "a")
            except OSError as e:
                raise UsageError("cannot open log %s: %s" % (settings["log_path"], _oserror_text(e)))
        d = Daemon(opts["role"], engine, settings, opts["verbose"], out)
        d.open()
    except UsageError as e:
        _err(e.msg)
        if d is not None:
            d.close()
        return EXIT_USAGE
    except (StartError, KeyboardInterrupt, Stop) as e:
        _err(e.msg if isinstance(e, StartError) else "interrupted while starting")
        if d is not None:
            d.close()
        return EXIT_FAILURE
    code = EXIT_OK
    why = "quit"
    try:
        d.run()
    except KeyboardInterrupt:
        why = "SIGINT"
    except Stop:
        why = "SIGTERM"
    except LinkGone as e:
        why = "error %s" % e
        code = EXIT_FAILURE
    except Exception as e:  # a last word in the log, then a non-zero status
        why = "error %s: %s" % (type(e).__name__, e)
        code = EXIT_FAILURE
    try:
        d.checkpoint()  # a clean stop keeps every key given out since the last checkpoint
        d.log("stopped reason=%s" % why)
    except Exception:
        pass
    d.close()
    if out is not None:
        out.close()
    return code


if __name__ == "__main__":
    sys.exit(main())
