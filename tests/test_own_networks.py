"""A user's own network (registered with ``mmdistill.nets.register_network``) in the evaluation and the distillation:
each one the evaluation cannot train is named before the distillation, in one line (walk 50B, "bring your own network")."""

from __future__ import annotations

import math
from typing import Iterator

import pytest
import torch
from torch import nn

from mmdistill import nets
from mmdistill.classification import evaluate_tensors, evaluation_protocol, network_factory
from mmdistill.errors import ConfigError
from mmdistill.modality import get_modality
from mmdistill.nets import build_network, register_network, reinitialize
from mmdistill.recipes import image_dm
from mmdistill.validation import load_data

FAST = dict(dataset="digits", ipc=1, iterations=2, eval_runs=1, eval_epochs=2, progress=False)


class _Tuple(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(math.prod(in_shape), num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fc(x.flatten(1)), x.flatten(1)


class _RawParameter(nn.Module):
    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(math.prod(in_shape), num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


def _flat(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), num_classes))


USER_NETS = {
    "test-user-tuple": _Tuple,
    "test-user-double": lambda s, n: _flat(s, n).double(),
    "test-user-bf16": lambda s, n: _flat(s, n).to(torch.bfloat16),
    "test-user-raw": _RawParameter,
    "test-user-lazy": lambda s, n: nn.Sequential(nn.Conv2d(s[0], 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(n)),
    "test-user-meta": lambda s, n: _flat(s, n).to("meta"),
    "test-user-function": lambda s, n: (lambda x: x.flatten(1)[:, :n]),
}


@pytest.fixture(scope="module")
def user_nets() -> Iterator[None]:
    for name, fn in USER_NETS.items():
        register_network(name)(fn)
    yield
    for name in USER_NETS:
        nets._REGISTRY.pop(nets.network_key(name), None)


@pytest.fixture(scope="module")
def digits(user_nets):
    modality = get_modality("image")
    return modality, load_data(modality, image_dm.RECIPE.config(**FAST))


@pytest.mark.parametrize("name, said", [
    ("test-user-tuple", r"network 'test-user-tuple' does not take digits's samples .*\(it returns a tuple, not a tensor of "
                        r"logits \(N, 10\)\)"),
    ("test-user-double", r"network 'test-user-double' cannot be trained by the evaluation: its '1.weight' is torch.float64, "
                         r"the samples are torch.float32: build it in torch.float32"),
    ("test-user-bf16", r"network 'test-user-bf16' cannot be trained .*torch.bfloat16"),
    ("test-user-raw", r"network 'test-user-raw' cannot be trained by the evaluation: reinitialize cannot redraw parameters "
                      r"\['w'\] of _RawParameter: it has no reset_parameters\(\)"),
    ("test-user-function", r"network 'test-user-function' does not take .*\(network 'test-user-function': its builder "
                           r"test_own_networks.<lambda> returned a function, not an nn.Module\)"),
])
def test_a_network_the_evaluation_cannot_train_is_named_before_distilling(digits, name, said):
    """Before: a tuple output was "'tuple' object has no attribute 'shape'"; a float64 or bfloat16 network passed the
    check (the meta device does not compare dtypes) and the evaluation, after the whole distillation, stopped with
    PyTorch's dtype traceback; a module without reset_parameters passed too and stopped the evaluation naming no network;
    a builder returning a function (no nn.Module) stopped in an AttributeError."""
    modality, data = digits
    cfg = image_dm.RECIPE.config(**FAST, eval_networks=["mlp", name])
    with pytest.raises(ConfigError, match="config key eval_networks: " + said) as err:
        modality.check_evaluation(cfg, data)
    assert err.value.key == "eval_networks" and "\n" not in str(err.value)


def test_a_network_of_token_ids_is_not_refused_for_its_float_embedding():
    """Walk 50B's dtype check compared every float parameter with the samples' dtype, so a classification modality of
    integer samples (token ids, as a text-classification plugin has) had its embedding network refused as "build it in
    torch.int64". Integer samples are not compared."""
    from types import SimpleNamespace

    from mmdistill.classification import check_evaluation_networks
    from mmdistill.data import ClassificationData, LabeledTensors

    split = LabeledTensors(torch.randint(0, 50, (6, 12)), torch.tensor([0, 1, 2] * 2), ["a", "b", "c"])
    data = ClassificationData("tokens", train=split, test=split)

    class Tokens(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.out = nn.EmbeddingBag(50, 8), nn.Linear(8, 3)

        def forward(self, x):
            return self.out(self.emb(x))

    modality = SimpleNamespace(build_network=lambda name, shape, k: Tokens(), cross_arch_networks=["tokens"])
    cfg = SimpleNamespace(cross_arch=False, eval_networks=["tokens"], network="tokens", baselines=[], eval_dc_augment="none")
    check_evaluation_networks(cfg, modality, data)  # no ConfigError
    x64 = SimpleNamespace(build_network=lambda name, shape, k: nn.Linear(12, 3).double(), cross_arch_networks=["tokens"])
    floats = ClassificationData("floats", train=LabeledTensors(torch.zeros(6, 12), split.y, split.classes), test=split)
    with pytest.raises(ConfigError, match="is torch.float64, the samples are torch.float32"):  # float samples: still compared
        check_evaluation_networks(cfg, x64, floats)


def test_a_network_with_lazy_modules_is_built_with_its_parameters_shaped_and_evaluates(digits):
    """Before: reinitialize read the LazyLinear's uninitialised weight and the evaluation stopped with PyTorch's
    ValueError; build_network now shapes lazy modules with one zero sample, so every run redraws them from its seed."""
    modality, data = digits
    net = build_network("test-user-lazy", (1, 8, 8), 10)
    assert net[3].weight.shape == (10, 4 * 6 * 6) and net.training
    modality.check_evaluation(image_dm.RECIPE.config(**FAST, eval_networks=["test-user-lazy"]), data)
    make = network_factory(modality, "test-user-lazy", data, torch.device("cpu"))
    a, b = make(torch.Generator().manual_seed(1)), make(torch.Generator().manual_seed(1))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    cfg = image_dm.RECIPE.config(**FAST)
    x, y = data.train.x[:20], data.train.y[:20]
    result = evaluate_tensors((x, y), data.test, make, evaluation_protocol(cfg), runs=1, seed=0, progress=False)
    assert 0.0 <= result.mean <= 1.0


def test_a_network_built_on_the_meta_device_is_named(digits):
    modality, data = digits
    make = network_factory(modality, "test-user-meta", data, torch.device("cpu"))
    with pytest.raises(ConfigError, match="network 'test-user-meta' was built on the meta device"):
        make(torch.Generator().manual_seed(0))


def test_reinitialize_still_names_a_module_without_reset():
    with pytest.raises(ConfigError, match=r"reinitialize cannot redraw parameters \['w'\] of _RawParameter"):
        reinitialize(_RawParameter((4,), 2), torch.Generator().manual_seed(0))


class _FunctionalDropout(nn.Module):
    """Dropout as many users' (and timm's) forwards write it: ``F.dropout``, no ``nn.Dropout`` module."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(math.prod(in_shape), 32), nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(nn.functional.dropout(torch.relu(self.a(x.flatten(1))), 0.3, self.training))


def test_a_draw_in_a_forward_counts_as_global_randomness():
    from mmdistill.concurrency import draws_global_randomness, training_draws_global_rng
    from mmdistill.ensemble import can_vectorize

    net, rrelu, plain = _FunctionalDropout((1, 8, 8), 10), nn.Sequential(nn.Flatten(), nn.RReLU()), _flat((1, 8, 8), 10)
    state = torch.get_rng_state()
    assert draws_global_randomness(net, (1, 8, 8)) and draws_global_randomness(rrelu, (4,))
    assert not draws_global_randomness(plain, (1, 8, 8))
    assert torch.equal(state, torch.get_rng_state()) and net.training  # the probe leaves the generator and the net alone
    bn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    assert not draws_global_randomness(bn, (1, 8, 8)) and int(bn[1].num_batches_tracked) == 0
    assert not draws_global_randomness(net)  # without a sample shape: its modules alone, as before
    assert training_draws_global_rng(lambda g: _FunctionalDropout((1, 8, 8), 10), None, (1, 8, 8))
    assert not can_vectorize([net, _FunctionalDropout((1, 8, 8), 10)], [5, 5], sample_shape=(1, 8, 8))


def test_an_evaluation_network_with_functional_dropout_trains_its_runs_alone(digits):
    """Before: only nn.Dropout modules marked a network as drawing from the global generator, so an F.dropout network's
    runs trained on threads (eval_threads, a CPU's default) drew one generator in the scheduling's order: 47.36 and
    48.19 % in two runs of the same `mmdistill eval --networks ... eval_threads=2` (46.81 with eval_threads=1), and
    vectorised (eval_vectorize, a GPU's default) they stopped in vmap's "random operation" RuntimeError."""
    register_network("test-user-fdropout")(_FunctionalDropout)
    try:
        modality, data = digits
        scores = []
        for threads in (1, 2):
            cfg = image_dm.RECIPE.config(**{**FAST, "eval_runs": 2}, eval_networks=["test-user-fdropout"],
                                         baselines=["random_real"], eval_threads=threads)
            plan = modality.evaluation_plan(cfg, None, data, torch.device("cpu"))
            assert not plan.networks[0].draws_no_global_rng
            scores.append(modality.evaluate(cfg, None, data, torch.device("cpu"))["random_real"]["runs"])
        assert scores[0] == scores[1]
    finally:
        nets._REGISTRY.pop(nets.network_key("test-user-fdropout"), None)


PLUGIN_NETS = '''
import math
from torch import nn

def tiny(in_shape, num_classes):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), num_classes))

NOT_A_BUILDER = 3
'''


@pytest.fixture
def plugin_nets(tmp_path, monkeypatch):
    """A package ``plugnets_pkg`` declaring networks in the ``mmdistill.networks`` entry-point group, on ``sys.path``."""
    import sys

    from fake_packages import write_package

    site = write_package(tmp_path / "site", "plugnets_pkg", PLUGIN_NETS, "[mmdistill.networks]\ntest-plug-tiny = plugnets_pkg:tiny\n"
                         "test-plug-bad = plugnets_pkg:NOT_A_BUILDER\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    sys.modules.pop("plugnets_pkg", None)
    for name in ("testplugtiny", "testplugbad"):
        nets._REGISTRY.pop(name, None)


def test_a_packages_declared_network_is_found_by_name_on_the_command_line(plugin_nets, tmp_path, capsys):
    """Before: a network of one's own was reachable only from Python (register_network in the same process); `mmdistill
    run|eval --networks NAME` knew only mmdistill's own and those of an imported modality. Now a package declares it in
    the mmdistill.networks entry-point group, and the run, the re-evaluation (a new process: the registry is emptied of
    it here) and the labels of the results name it."""
    from mmdistill.cli import main as cli_main
    from mmdistill.io import load_synthetic
    from mmdistill.nets import list_networks

    assert "testplugtiny" in list_networks() and "testplugtiny" not in nets._REGISTRY  # listed, nothing imported
    out = tmp_path / "run"
    assert cli_main(["run", "image-dm", "--dataset", "digits", "--ipc", "1", "--iterations", "1", "--eval-runs", "1",
                     "--eval-epochs", "1", "--no-progress", "--baselines", "", "--eval-networks", "test-plug-tiny",
                     "--out", str(out)]) == 0
    assert load_synthetic(out)[1]["metrics"]["network"] == "test-plug-tiny"
    nets._REGISTRY.pop("testplugtiny")
    capsys.readouterr()
    assert cli_main(["eval", str(out), "--networks", "test_plug_tiny", "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    assert "scored on test_plug_tiny" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"mmdistill.networks entry point 'test-plug-bad' names a int, not a network builder"):
        build_network("test-plug-bad", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match=r"unknown network 'test-plug-none'; known networks: .*testplugtiny.* \(your own: "
                                          r"mmdistill.nets.register_network, or a package's mmdistill.networks entry point\)"):
        build_network("test-plug-none", (1, 8, 8), 10)


def test_herding_with_a_recipe_network_without_embed_is_refused_before_distilling(digits):
    """Before: image-dc with network=<a user's Sequential> and the default baselines distilled, then stopped at the
    herding baseline (its checkpoint kept); the check now names baselines first."""
    from mmdistill.recipes import image_dc

    register_network("test-user-plain")(_flat)
    try:
        modality, data = digits
        cfg = image_dc.RECIPE.config(**FAST, network="test-user-plain")
        assert "herding" in cfg.baselines
        with pytest.raises(ConfigError, match=r"network 'test-user-plain' \(Sequential\) has no embed\(x\) -> \(N, D\) method, "
                                              r"which the herding baseline selects real samples with") as err:
            modality.check_evaluation(cfg, data)
        assert err.value.key == "baselines"
        modality.check_evaluation(image_dc.RECIPE.config(**FAST, network="test-user-plain", baselines=["random_real"]), data)
    finally:
        nets._REGISTRY.pop(nets.network_key("test-user-plain"), None)


def test_a_saved_set_is_scored_from_python_on_a_registered_network(tmp_path, capsys):
    """Walk 50B: a Python user scoring a saved set on a network of their own had only mmdistill.cli.main, which prints
    lines and returns an exit code. mmdistill.evaluate returns the metrics (the manifest's layout), writes nothing, and
    agrees with `mmdistill eval`."""
    import mmdistill
    from mmdistill.cli import main as cli_main
    from mmdistill.nets import register_network
    from mmdistill.recipes import image_dm

    @register_network("test-eval-api-mlp")
    def _mlp(in_shape, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(in_shape).prod()), 32), nn.ReLU(), nn.Linear(32, num_classes))

    try:
        out = tmp_path / "run"
        image_dm.run(dataset="digits", ipc=1, iterations=1, evaluate=False, progress=False, out=str(out))
        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
        got = mmdistill.evaluate(out, networks=["test-eval-api-mlp"], runs=2, epochs=3, baselines=False)
        assert got["network"] == "test-eval-api-mlp" and got["metric"] == "accuracy" and len(got["distilled"]["runs"]) == 2
        assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before  # nothing written
        assert mmdistill.evaluate(out, networks="test-eval-api-mlp", runs=2, epochs=3, baselines=False) == got  # seeded
        capsys.readouterr()
        assert cli_main(["eval", str(out), "--networks", "test-eval-api-mlp", "--runs", "2", "--epochs", "3", "--no-baselines"]) == 0
        assert f"distilled {100 * got['distilled']['mean']:.2f} ± {100 * got['distilled']['std']:.2f} %" in capsys.readouterr().out
        with pytest.raises(ConfigError, match="unknown network 'no-such-net'"):
            mmdistill.evaluate(out, networks=["no-such-net"], runs=1, epochs=1)
    finally:
        nets._REGISTRY.pop("testevalapimlp", None)


def test_evaluate_from_python_takes_the_baselines_it_names(tmp_path):
    """Walk 51E (ranking candidate networks on a set and on random real only): mmdistill.evaluate(..., baselines=
    ["random_real"]) read the list as True and trained and reported herding too; named baselines are those evaluated
    (the key baselines=random_real), True the run's, False none."""
    import mmdistill
    from mmdistill.recipes import image_dm

    out = tmp_path / "run"
    image_dm.run(dataset="digits", ipc=1, iterations=1, evaluate=False, progress=False, out=str(out))
    sets = lambda m: [k for k, v in m.items() if isinstance(v, dict) and "mean" in v]  # noqa: E731
    assert sets(mmdistill.evaluate(out, networks=["mlp"], runs=1, epochs=1, baselines=["random_real"])) == ["distilled", "random_real"]
    assert sets(mmdistill.evaluate(out, networks=["mlp"], runs=1, epochs=1, baselines="random_real")) == ["distilled", "random_real"]
    assert sets(mmdistill.evaluate(out, networks=["mlp"], runs=1, epochs=1, baselines=False)) == ["distilled"]
    assert "herding" in sets(mmdistill.evaluate(out, networks=["mlp"], runs=1, epochs=1, herding_epochs=1))


def test_a_network_spelt_otherwise_is_the_same_network_for_a_resume_and_a_buffer():
    """Walk 50B: the registry reads `My_MLP`, `my-mlp` and `MY_MLP` as one network, but a resume and an expert buffer
    compared the names as typed and refused (`network: 'convnet' -> 'ConvNet'`). They compare by the registry's rule; a
    different network is still named."""
    from mmdistill.buffer import ExpertSpec, ParamLayout, spec_mismatch
    from mmdistill.loop import changed_keys

    assert changed_keys({"network": "convnet", "ipc": 1}, {"network": "ConvNet", "ipc": 1}) == []
    assert changed_keys({"network": "my_mlp"}, {"network": "MY-MLP"}) == []
    assert changed_keys({"network": "convnet"}, {"network": "mlp"}) == ["network: 'convnet' -> 'mlp'"]
    assert changed_keys({"dataset": "Digits"}, {"dataset": "digits"}) == ["dataset: 'Digits' -> 'digits'"]  # other keys as typed
    layout = ParamLayout.of(nn.Linear(2, 2))
    saved = ExpertSpec("digits", "My_MLP", 2, layout, [2], None).as_json()
    assert spec_mismatch(saved, ExpertSpec("digits", "my-mlp", 2, layout, [2], None)) == ""
    assert "network: buffer 'My_MLP', this run 'convnet'" in spec_mismatch(saved, ExpertSpec("digits", "convnet", 2, layout, [2], None))


def test_a_resume_with_the_network_edited_under_its_name_is_refused(tmp_path):
    """Session 49 left it: a run of a user's own network stopped, the network's definition edited (a layer widened, an
    activation swapped), then resumed under the same name: the keys agreed, so it resumed and finished a set matched
    half against one network and half against another. The checkpoint records the matching network's layout (modules,
    parameter names and shapes); a resume with another layout is refused, the same definition resumes."""
    from mmdistill.network_identity import network_identity

    class Hidden(nn.Module):  # embed(x) -> (N, D) and a final classifier, as distribution matching needs
        def __init__(self, in_shape: tuple[int, ...], n: int, width: int, act: type[nn.Module]) -> None:
            super().__init__()
            self.body, self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), width), act()), nn.Linear(width, n)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return self.body(x)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.classifier(self.embed(x))

    def hidden(width: int, act: type[nn.Module]):
        return lambda s, n: Hidden(s, n, width, act)

    run = dict(FAST, network="test-user-edited", iterations=3, checkpoint_every=1, evaluate=False, out=str(tmp_path / "run"))
    try:
        register_network("test-user-edited")(hidden(16, nn.ReLU))
        image_dm.run(**run, stop_after=1)
        register_network("test-user-edited")(hidden(32, nn.ReLU))  # widened
        with pytest.raises(ConfigError, match=r"cannot resume .*checkpoint.safetensors: the matching network 'test-user-edited' is not "
                                              r"the network the run was distilling with \(1210 parameters -> 2410\): its definition changed"):
            image_dm.run(**run, resume=True)
        register_network("test-user-edited")(hidden(16, nn.GELU))  # the same parameters, another activation
        with pytest.raises(ConfigError, match=r"\(the same parameter count, other layers or shapes\)"):
            image_dm.run(**run, resume=True)
        register_network("test-user-edited")(hidden(16, nn.ReLU))  # as it was: resumes and finishes
        assert image_dm.run(**run, resume=True).manifest["timing"]["resumed_from"] == 1
    finally:
        nets._REGISTRY.pop(nets.network_key("test-user-edited"), None)
    assert network_identity(nn.Linear(3, 2)) == network_identity(nn.Linear(3, 2))  # weights are not part of it
    assert network_identity(nn.Linear(3, 2))["parameters"] == 8
