"""In-memory IPv6 links between engines, with a virtual clock and a capture of every link."""

from collections import deque

ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
ALL_ROUTERS = bytes.fromhex("ff020000000000000000000000000002")
_SOLICITED_PREFIX = bytes.fromhex("ff0200000000000000000001ff")
LINK_DELAY_MS = 1


def solicited_node(addr):
    return _SOLICITED_PREFIX + bytes(addr[13:16])


class Node:
    """One engine attached to one link, answering for a set of addresses."""

    def __init__(self, name, engine, link, addresses, is_router=False):
        self.name = name
        self.engine = engine
        self.link = link
        self.addresses = [bytes(a) for a in addresses]
        self.is_router = is_router
        self.events = []  # (now_ms, kind, fields)

    def owns(self, addr):
        return addr in self.addresses

    def accepts(self, dst):
        if dst in self.addresses or dst == ALL_NODES:
            return True
        if dst == ALL_ROUTERS:
            return self.is_router
        return any(dst == solicited_node(a) for a in self.addresses)


class Network:
    """Delivers frames by destination: on-link to every node that accepts them, off-link through
    the routers (hop limit decremented once per router) to the node that owns the address."""

    def __init__(self, wall_start_s):
        self.now_ms = 0
        self.wall_start_s = wall_start_s
        self.nodes = {}
        self.capture = []  # (now_ms, link name, frame)
        self._queue = deque()  # (deliver_at_ms, link, frame)

    @property
    def wall_s(self):
        return self.wall_start_s + self.now_ms // 1000

    def add_node(self, node):
        self.nodes[node.name] = node
        return node

    def move(self, name, link, addresses=None):
        node = self.nodes[name]
        node.link = link
        if addresses is not None:
            node.addresses = [bytes(a) for a in addresses]

    def inject(self, link, frame):
        """Put a frame on a link as if some node there had sent it (attacks use this)."""
        self._queue.append((self.now_ms + LINK_DELAY_MS, link, bytes(frame)))

    def _emit(self, node, frames, events):
        for f in frames:
            self._queue.append((self.now_ms + LINK_DELAY_MS, node.link, bytes(f)))
        for kind, fields in events:
            node.events.append((self.now_ms, kind, fields))

    def call(self, name, method, *args):
        """Drive an engine (attach, move, ...) and send whatever it produced."""
        node = self.nodes[name]
        frames, events = node.engine.call(method, self.now_ms, self.wall_s, *args)
        self._emit(node, frames, events)

    def _deliver(self, link, frame):
        self.capture.append((self.now_ms, link, frame))
        if len(frame) < 40:
            return
        dst = frame[24:40]
        local = [n for n in self.nodes.values() if n.link == link and n.accepts(dst)]
        if dst[0] == 0xFF or local:
            for n in local:
                self._emit(n, *n.engine.handle(frame, self.now_ms, self.wall_s))
            return
        owner = next((n for n in self.nodes.values() if n.owns(dst)), None)
        if owner is None or frame[7] <= 1:
            return
        routed = bytearray(frame)
        routed[7] -= 1  # one router hop
        self._queue.append((self.now_ms + LINK_DELAY_MS, owner.link, bytes(routed)))

    def run(self, max_ms=60000):
        """Run until no frame is in flight and no timer is due within max_ms of now."""
        stop_at = self.now_ms + max_ms
        while self.now_ms <= stop_at:
            if self._queue:
                if self._queue[0][0] > stop_at:
                    return
                at, link, frame = self._queue.popleft()
                self.now_ms = max(self.now_ms, at)
                self._deliver(link, frame)
                continue
            due = [(d, n) for n in self.nodes.values() for d in [n.engine.next_deadline()] if d is not None]
            if not due:
                return
            d, node = min(due, key=lambda x: x[0])
            if d > stop_at:
                return
            self.now_ms = max(self.now_ms, d)
            self._emit(node, *node.engine.poll(self.now_ms, self.wall_s))
            if node.engine.next_deadline() == d and not self._queue:
                raise RuntimeError("%s did not move its deadline past %d ms" % (node.name, d))

    def events(self, name, kind=None):
        return [e for e in self.nodes[name].events if kind is None or e[1] == kind]
