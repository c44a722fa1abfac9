# Raspberry Pi Pico W as an RFC 5269 mobile node: the mobile image and the self-test frozen
# into the firmware, next to everything the stock RPI_PICO_W build freezes.
#
#   cd micropython/ports/rp2
#   make BOARD=RPI_PICO_W FROZEN_MANIFEST=/path/to/handoverkey/boards/rp2-pico-w-mobile/manifest.py

include("$(BOARD_DIR)/manifest.py")  # the stock board manifest (networking, mip, ...)
add_library("handoverkey", "../manifests")  # boards/manifests, relative to this file
require("mobile", library="handoverkey")
require("selftest", library="handoverkey")
