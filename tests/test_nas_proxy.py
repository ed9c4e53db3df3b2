"""benchmarks/nas_proxy.py (walk 51E): its search spaces are buildable ConvNets and its rank correlation is Spearman's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from mmdistill.nets import build_network

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def nas_proxy():
    sys.path.insert(0, str(BENCH))  # the script imports its sibling _common
    try:
        spec = importlib.util.spec_from_file_location("nas_proxy_under_test", BENCH / "nas_proxy.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def test_the_paper_space_is_dcs_720_distinct_convnets_and_each_builds_for_digits(nas_proxy):
    paper = nas_proxy.candidates("paper")
    assert len(paper) == 720 == len({nas_proxy.label(c) for c in paper})
    with torch.device("meta"):  # shapes only: 720 networks without memory
        for options in paper:
            net = build_network("convnet", (1, 8, 8), 10, **options)
            assert tuple(net(torch.empty(2, 1, 8, 8)).shape) == (2, 10), options
    cpu = nas_proxy.candidates("cpu")
    assert len(cpu) == 12 and all(c in paper for c in cpu)


def test_spearman_is_of_ranks_and_undefined_for_a_constant_list(nas_proxy):
    assert nas_proxy.spearman([0.1, 0.5, 0.9], [0.2, 0.3, 0.99]) == pytest.approx(1.0)  # monotone, not linear
    assert nas_proxy.spearman([0.1, 0.5, 0.9], [0.9, 0.5, 0.1]) == pytest.approx(-1.0)
    assert nas_proxy.spearman([0.1, 0.2, 0.3, 0.4], [0.1, 0.3, 0.2, 0.4]) == pytest.approx(0.8)
    assert nas_proxy.spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None
