"""The inputs and helpers of `hostsim bench` and `hostsim footprint` (no timing is asserted here)."""

import xml.dom.minidom

from handoverkey.config import build_engine

from hostsim import benchdata, cmd_footprint, images


def test_bench_frames_take_the_measured_paths():
    cfg = benchdata.router_config(1024, table_capacity=16)
    reqs = benchdata.rtsolprs(cfg, 1024, 3)
    assert len({q.pcoa for q in reqs}) == 3
    r = build_engine("router", cfg)
    assert r.key.bits == 1024
    for q in reqs:
        frames, events = r.handle(q.frame, 1000, benchdata.WALL_S)
        assert events[-1][0] == "key-provisioned" and len(frames) == 1
    at, key = benchdata.handover_key(frames[0], reqs[-1].hke_key)
    for seq, ack, predictive in ((1, False, True), (2, True, False), (3, True, True)):
        f = benchdata.fbu(key, at, reqs[-1].pcoa, benchdata.NCOA, r.address, seq, ack, predictive)
        frames, events = r.handle(f, 2000, benchdata.WALL_S)
        assert [e[0] for e in events] == ["fbu-accepted"]
        assert len(frames) == (0 if not ack else 2 if predictive else 1)
        assert len(benchdata.mac_input(f)) > 40


def test_images_list_every_module_and_no_host_module_is_imported_by_the_engines():
    mods = images.firmware_modules()
    assert "handoverkey" in mods and "handoverkey.router" in mods and "handoverkey.wire.mh" in mods
    for m in images.HOST_ONLY:
        assert m in mods
    assert images.MPY_CROSS_FLAGS[0] == "-O3"


def test_heap_map_object_count():
    before = "GC memory layout; from 7f:\n00000000: h=hh=hhL..\n       (3 lines all free)\n"
    after = "GC memory layout; from 7f:\n00000000: h=hh=hhLhB=\n00000800: D..\n"
    assert cmd_footprint._count_heads(after) - cmd_footprint._count_heads(before) == 3


def test_the_chart_is_well_formed_svg():
    sizes = {"handoverkey.router": 7000, "handoverkey.mobile": 8000, "handoverkey.wire.mh": 2900, "handoverkey.agent": 1100}
    svg = cmd_footprint.svg_chart(sizes, {"handoverkey.router", "handoverkey.wire.mh"},
                                  {"handoverkey.mobile", "handoverkey.wire.mh"}, 9900, 10900)
    doc = xml.dom.minidom.parseString(svg)
    assert doc.documentElement.tagName == "svg"
    assert len(doc.getElementsByTagName("rect")) >= len(sizes) + 2
