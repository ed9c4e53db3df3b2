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


def test_the_paper_space_is_dcs_720_distinct_convnets_and_each_builds_for_digits(nas_parts):
    cands = nas_parts[0]
    paper = cands.space_candidates("paper")
    assert len(paper) == 720 == len({cands.label(*c) for c in paper}) and {n for n, _ in paper} == {"convnet"}
    with torch.device("meta"):  # shapes only: 720 networks without memory
        for _, options in paper:
            net = build_network("convnet", (1, 8, 8), 10, **options)
            assert tuple(net(torch.empty(2, 1, 8, 8)).shape) == (2, 10), options
    cpu = cands.space_candidates("cpu")
    assert len(cpu) == 12 and all(c in paper for c in cpu)


def test_the_space_defaults_to_the_papers_once_when_no_candidates_are_given(nas_proxy):
    """The default was decided twice in main (``args.space or "paper"`` for the search and again for the record);
    parse_args decides it (review R3.6), and the dead shims candidates()/label() are gone."""
    assert nas_proxy.parse_args(["runs/x"]).space == "paper"
    assert nas_proxy.parse_args(["runs/x", "--space", "cpu"]).space == "cpu"
    assert nas_proxy.parse_args(["runs/x", "--candidates", "mlp"]).space is None
    assert not hasattr(nas_proxy, "candidates") and not hasattr(nas_proxy, "label")


def test_spearman_is_of_ranks_and_undefined_for_a_constant_list(nas_proxy):
    assert nas_proxy.spearman([0.1, 0.5, 0.9], [0.2, 0.3, 0.99]) == pytest.approx(1.0)  # monotone, not linear
    assert nas_proxy.spearman([0.1, 0.5, 0.9], [0.9, 0.5, 0.1]) == pytest.approx(-1.0)
    assert nas_proxy.spearman([0.1, 0.2, 0.3, 0.4], [0.1, 0.3, 0.2, 0.4]) == pytest.approx(0.8)
    assert nas_proxy.spearman([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None


# walk 56I: a NAS user's own candidates, any classification modality, a search that resumes, and its figure

from mmdistill.errors import ConfigError  # noqa: E402
from mmdistill.modality import get_modality  # noqa: E402


@pytest.fixture(scope="module")
def nas_parts(nas_proxy):
    import nas_candidates
    import nas_checkpoint
    import nas_plot
    return nas_candidates, nas_checkpoint, nas_plot


def test_candidates_are_registered_networks_with_options_and_your_own_from_an_imported_file(nas_parts, tmp_path):
    cands, _, _ = nas_parts
    assert cands.parse_candidate("convnet:width=64,depth=2,norm=none") == ("convnet", {"width": 64, "depth": 2, "norm": "none"})
    assert cands.parse_candidate("mlp") == ("mlp", {})
    for bad in ("convnet:width", "convnet:width=1,width=2", ":depth=2"):
        with pytest.raises(ConfigError, match="--candidates entry"):
            cands.parse_candidate(bad)
    assert cands.label("convnet", {"width": 64}) == "convnet:width=64"
    assert cands.label(*cands.space_candidates("cpu")[0]) == "w32-d1-relu-instancenorm-avgpooling"  # recorded labels kept
    (tmp_path / "walk56i_nets.py").write_text(
        "from torch import nn\nfrom mmdistill.nets import register_network\n\n"
        "@register_network('walk56i-tiny')\ndef tiny(in_shape, num_classes, hidden=8):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], hidden), nn.ReLU(),\n"
        "                         nn.Linear(hidden, num_classes))\n")
    cands.import_networks(str(tmp_path / "walk56i_nets.py"))
    with pytest.raises(ConfigError, match="--import .*no such file"):
        cands.import_networks(str(tmp_path / "missing.py"))
    audio, x = get_modality("audio"), torch.randn(4, 2, 13, 9)  # an audio set's maps, not images: built by its adapter
    ok = [("walk56i-tiny", {"hidden": 4}), ("convnet", {"width": 16, "depth": 1}), ("mlp", {})]
    cands.check_candidates(ok, audio, x, 5)
    net = cands.candidate_builder(audio, "walk56i-tiny", {"hidden": 4}, (2, 13, 9), 5)()
    assert tuple(net(x).shape) == (4, 5)
    with pytest.raises(ConfigError, match="candidate 'walk56i-tiny:width=3'.*no option 'width'"):
        cands.check_candidates([("walk56i-tiny", {"width": 3})], audio, x, 5)
    with pytest.raises(ConfigError, match="candidate 'no-such-net'.*unknown network"):
        cands.check_candidates([("no-such-net", {})], audio, x, 5)
    with pytest.raises(ConfigError, match="listed twice"):
        cands.check_candidates([("mlp", {}), ("mlp", {})], audio, x, 5)



class _OwnScale(torch.nn.Module):
    """A layer holding a parameter of its own and no reset_parameters: reinitialize cannot redraw it."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def test_candidates_are_probed_on_the_meta_device_and_refused_when_they_cannot_be_retrained(nas_parts):
    """check_candidates rewrote the evaluation's network probe (review R3.2): it built every candidate for real on the
    CPU (720 ConvNets of DC's space) and never asked whether reinitialize could redraw it, so such a candidate failed
    in the middle of the search, after the others had trained. Both now use mmdistill.network_check."""
    from mmdistill import nets

    cands, _, _ = nas_parts
    devices: list[str] = []

    @nets.register_network("walk56o-seen")
    def seen(in_shape, num_classes):
        net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], num_classes))
        devices.append(torch.empty(0).device.type)
        return net

    @nets.register_network("walk56o-own")
    def own(in_shape, num_classes):
        return torch.nn.Sequential(torch.nn.Flatten(), _OwnScale(in_shape[0] * in_shape[1] * in_shape[2]),
                                   torch.nn.Linear(in_shape[0] * in_shape[1] * in_shape[2], num_classes))

    try:
        audio, x = get_modality("audio"), torch.randn(4, 2, 13, 9)
        cands.check_candidates([("walk56o-seen", {})], audio, x, 5)
        assert devices == ["meta"]
        with pytest.raises(ConfigError, match=r"candidate 'walk56o-own' cannot be trained: reinitialize cannot redraw "
                                              r"parameters \['scale'\] of _OwnScale"):
            cands.check_candidates([("mlp", {}), ("walk56o-own", {})], audio, x, 5)
    finally:
        for name in ("walk56o-seen", "walk56o-own"):
            nets._REGISTRY.pop(nets.network_key(name), None)

def _scores(name: str) -> dict:
    acc = {"a": 0.5, "b": 0.7, "c": 0.6}[name]
    return {k: {"mean": acc + d, "runs": [acc + d], "seconds": 0.01} for k, d in (("distilled", 0.0), ("random_real", -0.1), ("whole", 0.2))}


def test_a_stopped_search_resumes_with_only_the_unfinished_candidates_and_refuses_other_settings(nas_proxy, nas_parts, tmp_path):
    _, ckpt, _ = nas_parts
    path, settings, trained = tmp_path / "nas.partial.json", {"set": "runs/x", "runs": 1}, []

    def stopped_at_b(name: str) -> dict:
        if name == "b":
            raise KeyboardInterrupt  # Ctrl-C during the second candidate
        trained.append(name)
        return _scores(name)

    with pytest.raises(SystemExit):
        nas_proxy.search(["a", "b", "c"], stopped_at_b, ckpt.Checkpoint(path, settings))
    assert trained == ["a"] and path.exists()

    def score(name: str) -> dict:
        trained.append(name)
        return _scores(name)

    records = nas_proxy.search(["a", "b", "c"], score, ckpt.Checkpoint(path, settings))
    assert trained == ["a", "b", "c"] and [r["candidate"] for r in records] == ["a", "b", "c"]
    summary = nas_proxy.summarise(records)
    assert summary["distilled"]["picked"] == "b" and summary["distilled"]["spearman"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="other settings .*runs: 1 there, 2 now.*--restart"):
        ckpt.Checkpoint(path, {**settings, "runs": 2})
    assert ckpt.Checkpoint(path, {**settings, "runs": 2}, restart=True).records == {}


def test_ctrl_c_says_what_the_search_kept_and_how_to_go_on_not_a_traceback(nas_proxy, nas_parts, tmp_path, capsys):
    """Walk 56R: the README's "the same command after a stop (Ctrl-C) trains only the rest" was true, but the stop
    printed a KeyboardInterrupt traceback from deep in torch and nothing of what was kept or where."""
    _, ckpt, _ = nas_parts
    path = tmp_path / "nas.partial.json"

    def stopped_at(stop: str):
        def score(name: str) -> dict:
            if name == stop:
                raise KeyboardInterrupt
            return _scores(name)
        return score

    with pytest.raises((SystemExit, KeyboardInterrupt)) as stop:
        nas_proxy.search(["a", "b", "c", "d"], stopped_at("c"), ckpt.Checkpoint(path, {"set": "runs/x"}))
    assert stop.type is SystemExit and stop.value.code == 130
    said = capsys.readouterr().err
    assert f"stopped: 2 of 4 candidates finished, kept in {path}; run the same command again" in said
    with pytest.raises(SystemExit):
        nas_proxy.search(["a", "b"], stopped_at("a"), ckpt.Checkpoint(tmp_path / "other.json", {"set": "runs/x"}))
    assert "stopped before any of the 2 candidates finished: nothing kept" in capsys.readouterr().err


def test_the_plot_draws_each_proxy_against_the_whole_split_with_its_spearman(nas_proxy, nas_parts, tmp_path):
    _, _, plot = nas_parts
    records = [{"candidate": n, **_scores(n)} for n in ("a", "b", "c")]
    out = plot.plot_ranking(records, nas_proxy.summarise(records), tmp_path / "nas.png", "image-dm on digits")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_space_and_candidates_are_one_choice(nas_proxy):
    with pytest.raises(SystemExit):
        nas_proxy.parse_args(["runs/x", "--space", "cpu", "--candidates", "mlp"])
    args = nas_proxy.parse_args(["runs/x", "--candidates", "mlp", "convnet:width=64", "--plot", "nas.png"])
    assert args.candidates == ["mlp", "convnet:width=64"] and args.space is None
