"""scripts/measure_demo_types.py: recommendations scored against the demo's own complement graph and fits."""
from __future__ import annotations

import pytest

from eccr.data.demo import read_complement_graph, read_demo_catalog


def test_types_and_fits_come_from_the_graph_and_the_fits_column(load_script):
    m = load_script("measure_demo_types")
    demo, graph = read_demo_catalog(), read_complement_graph()
    at = demo.position_of
    rebel_t7 = at["D0001"]
    items = [at["D0034"],  # LP-E10 battery, made for the T7: typed and fits
             at["D0040"],  # LP-E6NH battery, made for the 90D and R6 Mark II: typed, does not fit
             at["D0010"],  # Nikon D3500: another camera, a substitute
             at["D0367"]]  # a TV: neither
    assert m.scores(demo, graph, rebel_t7, items) == pytest.approx(
        {"typed": 2 / 4, "typed_fits": 1 / 4, "same_type": 1 / 4, "types": 3})  # battery, camera, TV
    # either way round: the battery's own graph entry lists no camera, the camera's lists the battery
    assert m.scores(demo, graph, at["D0034"], [rebel_t7])["typed_fits"] == 1.0
