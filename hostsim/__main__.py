"""Command line of the host simulator: `python -m hostsim COMMAND ...` (console script `hostsim`)."""

import argparse
import importlib
import os
import sys

# Each command lives in hostsim/cmd_<name>.py with add_arguments(parser) and run(args) -> exit code.
# Modules are imported only when their command runs, so one broken command cannot break the rest.
COMMANDS = (
    ("demo", "run a whole handover: attach, certificate discovery, key provisioning, move, FBU, FBack"),
    ("attacks", "run every attack scenario and report whether it was rejected"),
    ("cga", "generate or verify a Cryptographically Generated Address (RFC 3972)"),
    ("inspect", "decode a pcap: messages, options, checksums, CGA and signature checks"),
    ("bench", "benchmarks against the physical limits"),
    ("footprint", "bytecode sizes and heap use on MicroPython"),
    ("netns", "run the daemons in Linux network namespaces over real kernel links"),
    ("sidechannel", "time the mobile node on valid vs invalid HK Reply padding, with a statistical test"),
    ("board", "board images, device configs and the virtual board for mpremote (boards/README.md)"),
)


def _load(name):
    return importlib.import_module("hostsim.cmd_" + name)


def build_parser(argv):
    parser = argparse.ArgumentParser(prog="hostsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv else None
    for name, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            _load(name).add_arguments(p)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return _load(args.command).run(args)
    except BrokenPipeError:
        # The reader went away (`... | head`): nothing wrong here. Later writes go nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
