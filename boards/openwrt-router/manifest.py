# An OpenWrt-class Linux router running the MicroPython unix port as an RFC 5269 access router:
# the router image, the daemon and the self-test frozen into the `micropython` binary.
#
#   cd micropython/ports/unix
#   make FROZEN_MANIFEST=/path/to/handoverkey/boards/openwrt-router/manifest.py
#
# (cross-compiled with the OpenWrt SDK's toolchain for the router: boards/openwrt-router/README.md)

include("$(PORT_DIR)/variants/standard/manifest.py")  # what the standard unix variant freezes anyway
add_library("handoverkey", "../manifests")  # boards/manifests, relative to this file
require("router", library="handoverkey")
require("daemon", library="handoverkey")
require("selftest", library="handoverkey")
