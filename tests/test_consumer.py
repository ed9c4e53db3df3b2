"""What a consumer of a loaded set needs besides its tensors (walk 36A): the normalisation to apply to their own real
data (``ds.normalization``, the card, the ``--to hf`` export's description), the augmentation the metrics were measured
with (``metrics.protocol.dsa_strategy``, ``ds.augmentation()``), and LoRS items that carry their pair's index."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import mmdistill
from mmdistill.errors import ArtifactError
from mmdistill.modality import REGISTERED_MODALITIES, get_modality
from mmdistill.seeding import generator

pytest.importorskip("torchvision")

from test_contracts import CASES  # noqa: E402
from test_share import make_set  # noqa: E402  (the share tests' tiny saved sets, one per modality)

#: per modality: {input: the statistics' shape broadcasting against one sample (C, F: the sample's channels and
#: coefficients; the audio recipes normalise per coefficient)}, None where inputs are not normalised
EXPECTED = {"image": {"x": ("C", 1, 1)}, "audio": {"x": ("C", "F", 1)}, "video": {"x": ("C", 1, 1, 1)},
            "audio_visual": {"audio": ("C", 1, 1), "image": ("C", 1, 1)}, "image_text": {"images": ("C", 1, 1)},
            "graph": None, "sequences": None}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("consumer")


@pytest.mark.parametrize("name", REGISTERED_MODALITIES)
def test_normalization_gives_each_inputs_statistics_shaped_for_one_sample(name, root):
    ds = mmdistill.load(make_set(name, root / name))
    norm = ds.normalization
    expected = EXPECTED[name]
    if expected is None:
        assert norm is None
        return
    assert set(norm) == set(expected)
    for key, shape in expected.items():
        mean, std = norm[key]["mean"], norm[key]["std"]
        sample = ds.inputs[key][0]
        assert mean.dtype == torch.float32 and mean.dim() == sample.dim() and std.shape == mean.shape
        assert tuple(mean.shape) == tuple(sample.shape[i] if isinstance(d, str) else d for i, d in enumerate(shape)) or mean.numel() == 1
        assert ((sample - mean) / std).shape == sample.shape  # broadcasts against one sample
        assert ((ds.inputs[key] - mean) / std).shape == ds.inputs[key].shape  # and against a batch
    meta = ds.synthetic.meta
    if name in ("image", "audio", "video"):
        assert torch.allclose(norm["x"]["mean"].flatten(), torch.tensor(meta["mean"], dtype=torch.float32).flatten())
    if name == "audio_visual":
        assert norm["audio"]["std"].item() == pytest.approx(meta["audio_std"])
        assert torch.allclose(norm["image"]["mean"].flatten(), torch.tensor(meta["image_mean"]))


def test_an_initialised_image_set_denormalised_is_real_pixels(root):
    """The statistics are the ones the set was made with: its initial samples (real digits, pixels in [0, 1]) come back."""
    ds = mmdistill.load(make_set("image", root / "image"))
    n = ds.normalization["x"]
    raw = ds.x * n["std"] + n["mean"]
    assert raw.min() > -1e-4 and raw.max() < 1 + 1e-4


def test_the_card_and_the_hf_export_state_the_normalisation(root, tmp_path):
    datasets = pytest.importorskip("datasets")
    from mmdistill.share import export_hf

    out = make_set("image", root / "image")
    ds = mmdistill.load(out)
    mean = f"{ds.synthetic.meta['mean'][0]:.4g}"
    card = (out / "README.md").read_text()
    assert "- inputs normalised as (raw - mean) / std with x: mean [" + mean in card
    assert "ds.normalization" in card
    target = export_hf(out, tmp_path / "hf")
    assert "inputs normalised" in (target / "README.md").read_text()
    info = datasets.load_from_disk(str(target)).info
    stated = json.loads(info.description.split("normalization (JSON): ", 1)[1])  # named by the export's column
    assert stated["pixel_values"]["mean"] == pytest.approx(ds.synthetic.meta["mean"])
    assert stated["pixel_values"]["std"] == pytest.approx(ds.synthetic.meta["std"])
    assert set(stated) <= set(datasets.load_from_disk(str(target)).column_names)
    graph = (make_set("graph", root / "graph") / "README.md").read_text()
    assert "inputs normalised" not in graph


def test_export_description_names_columns_and_a_set_without_statistics():
    from mmdistill.consumer import export_description

    stats = {"audio": {"mean": torch.tensor([0.5]), "std": torch.tensor([2.0])}}
    said = export_description({"dataset": "d"}, stats, {"audio": "log_mel", "image": "pixel_values"})
    assert json.loads(said.split("normalization (JSON): ", 1)[1]) == {"log_mel": {"mean": [0.5], "std": [2.0]}}
    assert "records no normalisation statistics" in export_description({}, {}, {"x": "pixel_values"}, recorded=False)
    assert "not normalised" in export_description({}, {})


def test_a_damaged_normalisation_is_named(root):
    ds = mmdistill.load(make_set("image", root / "image"))
    broken = dataclasses.replace(ds, synthetic=dataclasses.replace(ds.synthetic, meta={**ds.synthetic.meta, "mean": [0.1, 0.2]}))
    with pytest.raises(ArtifactError, match="normalisation mean of 'x' has shape"):
        broken.normalization


def _plan_protocol(name: str, root, **changes) -> dict:
    cfg = dataclasses.replace(CASES[name].config(root), baselines=["random_real"], **changes)
    modality = get_modality(name)
    data = modality.load(cfg)
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))
    return dict(modality.evaluation_plan(cfg, syn, data, torch.device("cpu")).protocol)


def test_the_protocol_records_the_resolved_op_list_and_augmentation_rebuilds_it(root):
    """Walk 36A: an audio set evaluated with crop_cutout recorded only ``dsa_strategy: "auto"``, and the image helper
    ``dsa_strategy_for`` gives the image strategy for it."""
    from mmdistill.modalities.audio.adapter import AUDIO_DSA_STRATEGY

    proto = _plan_protocol("audio", root / "audio-plan")
    assert proto["dsa"] is True and proto["dsa_strategy"] == AUDIO_DSA_STRATEGY == "crop_cutout"
    ds = mmdistill.load(make_set("audio", root / "audio"))
    assert ds.manifest["config"]["dsa_strategy"] == "auto"
    evaluated = dataclasses.replace(ds, manifest={**ds.manifest, "metrics": {"protocol": proto}})
    assert evaluated.augmentation().strategy == "crop_cutout"
    earlier = dataclasses.replace(ds, manifest={**ds.manifest, "metrics": {"protocol": {"dsa": True}}})  # before the list was recorded
    assert earlier.augmentation().strategy == "crop_cutout"
    assert dataclasses.replace(ds, manifest={**ds.manifest, "metrics": {"protocol": {"dsa": False}}}).augmentation() is None
    assert ds.augmentation() is None  # not evaluated
    image = _plan_protocol("image", root / "image-plan")
    assert image["dsa_strategy"] == "color_crop_cutout_scale_rotate"  # digits: no flip
    assert "dsa_strategy" not in _plan_protocol("image", root / "image-plan", eval_dsa=False)


def test_a_dc_protocol_gives_dcs_augmentation(root):
    from mmdistill.dc_augment import DCAugment

    ds = mmdistill.load(make_set("image", root / "image"))
    proto = {"dsa": False, "dc_augment": {"strategy": "crop_scale", "crop": 2, "scale": 0.1, "rotate": 45, "noise": 0.001}}
    aug = dataclasses.replace(ds, manifest={**ds.manifest, "metrics": {"protocol": proto}}).augmentation()
    assert isinstance(aug, DCAugment) and aug.strategy == "crop_scale" and aug.params.crop == 2


def test_audio_visual_records_one_op_list_per_side(root):
    from mmdistill.modalities.audio.adapter import AUDIO_DSA_STRATEGY
    from mmdistill.modalities.audio_visual.adapter import IMAGE_DSA_STRATEGY

    from mmdistill.modalities.audio_visual.config import AVDD_DSA_STRATEGY

    both = _plan_protocol("audio_visual", root / "av-plan-avdd")  # the recipes' default: AVDD's ops on both sides
    assert both["dsa_strategy"] == {"audio": AVDD_DSA_STRATEGY, "image": AVDD_DSA_STRATEGY}
    proto = _plan_protocol("audio_visual", root / "av-plan", dsa_strategy="auto")  # mmdistill's per-side choice (cpu budget)
    assert proto["dsa_strategy"] == {"audio": AUDIO_DSA_STRATEGY, "image": IMAGE_DSA_STRATEGY}
    assert proto["test_pairs"] > 0  # recorded beside it
    ds = mmdistill.load(make_set("audio_visual", root / "av"))
    aug = dataclasses.replace(ds, manifest={**ds.manifest, "metrics": {"protocol": proto}}).augmentation()
    assert (aug.audio.strategy, aug.image.strategy) == (AUDIO_DSA_STRATEGY, IMAGE_DSA_STRATEGY)


def test_a_card_rescored_with_the_op_list_keeps_the_same_protocol():
    from mmdistill.card import render_card

    proto = {"epochs": 3, "lr": 0.01, "runs": 1, "dsa": True}
    metrics = {"metric": "accuracy", "network": "convnet", "distilled": {"mean": 0.5, "std": 0.0, "runs": [0.5]},
               "protocol": {**proto, "dsa_strategy": "crop_cutout"},
               "earlier": {"random_real": {"mean": 0.4, "std": 0.0, "runs": [0.4]}, "protocol": proto}}
    card = render_card({"recipe": "audio-dm", "method": "dm", "dataset": "tones", "metrics": metrics})
    assert "(the same protocol)" in card and '"dsa_strategy": "crop_cutout"' in card
    metrics["earlier"]["protocol"] = {**proto, "dsa_strategy": "crop"}
    assert "(another protocol)" in render_card({"recipe": "audio-dm", "method": "dm", "dataset": "tones", "metrics": metrics})


def test_lors_items_carry_the_pair_index_so_a_shuffled_batch_cuts_its_block():
    from mmdistill.modalities.image_text.data import PairBatch
    from mmdistill.modalities.image_text.share import pair_dataset
    from mmdistill.modalities.image_text.task import ContrastiveTask

    k = 6
    gen = torch.Generator().manual_seed(0)
    images, text, sim = torch.randn(k, 3, 4, 4, generator=gen), torch.randn(k, 5, generator=gen), torch.randn(k, k, generator=gen)
    view = pair_dataset({"images": images, "text": text, "similarity": sim}, torch.zeros(k, dtype=torch.long), None)
    image, emb, row, index = view[2]
    assert torch.equal(row, sim[2]) and index.dtype == torch.long and int(index) == 2
    loader = torch.utils.data.DataLoader(view, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(1))
    _, _, rows, idx = next(iter(loader))
    block = rows[:, idx]  # the README's recipe
    assert torch.equal(block, PairBatch(images, text, sim).subset(idx).targets)
    logits = torch.randn(4, 4, generator=gen)
    assert ContrastiveTask().loss(logits, block) == ContrastiveTask().loss(logits, sim[idx][:, idx])
    plain = pair_dataset({"images": images, "text": text}, torch.zeros(k, dtype=torch.long), None)[0]
    assert len(plain) == 2  # CLIP-style pairs keep (image, text_embedding)


def test_a_standardised_graph_keeps_its_training_nodes_statistics(root, tmp_path):
    """A graph loaded with ``normalize_features=standard`` (GCond's Flickr/Reddit/ogbn-arxiv setting) keeps the training
    nodes' per-feature mean and std: ``ds.normalization["x"]`` brings the raw features to the set's, the card states
    them, and the condensed-graph export's ``graph.json`` holds them."""
    from mmdistill.modalities.graph.export import export_condensed
    from mmdistill.report import add_sharing_blocks, new_manifest, write_artifact

    modality = get_modality("graph")
    cfg = CASES["graph"].config(root)
    standard = modality.load(dataclasses.replace(cfg, normalize_features="standard"))
    raw = modality.load(dataclasses.replace(cfg, normalize_features="none"))
    syn = modality.init_synthetic(standard, dataclasses.replace(cfg, normalize_features="standard"), generator(0, "init"))
    out = root / "graph-standard"
    manifest = new_manifest(recipe="graph-gcond", method="test", modality=modality, dataset=standard.name, cfg=cfg, syn=syn)
    add_sharing_blocks(manifest, modality, cfg, syn, standard, out)
    write_artifact(out, syn.detached(), manifest, modality)
    ds = mmdistill.load(out)
    n = ds.normalization["x"]
    features = raw.graph.x.shape[1]
    assert n["mean"].shape == n["std"].shape == (features,)
    assert torch.allclose((raw.graph.x - n["mean"]) / n["std"], standard.graph.x, atol=1e-5)
    assert torch.allclose(n["mean"], raw.graph.x[raw.train_idx].mean(0), atol=1e-6)
    assert f"x: mean {[float(f'{v:.4g}') for v in n['mean'].tolist()]}" in (out / "README.md").read_text()
    header = json.loads((export_condensed(ds.synthetic, tmp_path / "condensed") / "graph.json").read_text())
    assert header["feature_mean"] == pytest.approx(n["mean"].tolist()) and "feature_std" in header["features"]
    datasets = pytest.importorskip("datasets")
    from mmdistill.share import export_hf

    hf = export_hf(out, tmp_path / "hf")
    stated = json.loads(datasets.load_from_disk(str(hf)).info.description.split("normalization (JSON): ", 1)[1])
    assert set(stated) == {"node_feat"} and stated["node_feat"]["std"] == pytest.approx(n["std"].tolist())
    plain = make_set("graph", root / "graph")
    assert mmdistill.load(plain).normalization is None  # not standardised: no statistics, and its export says so
    said = datasets.load_from_disk(str(export_hf(plain, tmp_path / "hf-plain"))).info.description
    assert "not normalised by a mean and std" in said and "records no normalisation" not in said
    rule = mmdistill.load(plain).synthetic.meta["normalize_features"]  # the rule a consumer's real graphs must follow
    assert rule in ("row", "none")
    wanted = "row-normalised feature space (each node's features divided by their sum" if rule == "row" else "unnormalised"
    assert wanted in said and wanted in (tmp_path / "hf-plain" / "README.md").read_text()
    assert wanted in (plain / "README.md").read_text()
    assert "node features" not in (out / "README.md").read_text().split("## Metrics")[0].split("x: mean")[0]  # standardised: statistics


def test_the_card_line_shortens_long_statistics():
    """Per-feature statistics of a graph (hundreds of features) are shown by their first values and their shape; an
    audio set's per-coefficient (3, 13) stay whole."""
    from mmdistill.consumer import normalization_line

    line = normalization_line({"x": {"mean": torch.arange(500.0), "std": torch.ones(500)}})
    assert "x: mean [0.0, 1.0, 2.0, ... (shape (500,))] std [1.0, 1.0, 1.0, ... (shape (500,))]" in line
    assert "mean [0.5] std [2.0]" in normalization_line({"a": {"mean": torch.tensor([0.5]), "std": torch.tensor([2.0])}})
    whole = normalization_line({"x": {"mean": torch.zeros(3, 13), "std": torch.ones(3, 13)}})
    assert "shape" not in whole and whole.count("0.0") == 39


def _edited_set(root, tmp_path, **meta) -> "object":
    import shutil

    out = tmp_path / "set"
    shutil.copytree(make_set("image", root / "image"), out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["synthetic"]["meta"].update(meta)
    (out / "manifest.json").write_text(json.dumps(manifest))
    return out


@pytest.mark.parametrize("meta, said", [
    ({"std": [0.0]}, r"field 'synthetic.meta.std' holds 0; expected finite numbers above 0"),
    ({"std": [-0.3]}, r"field 'synthetic.meta.std' holds -0.3; expected finite numbers above 0"),
    ({"std": [float("nan")]}, r"field 'synthetic.meta.std' holds nan; expected finite numbers above 0"),
    ({"mean": [float("inf")]}, r"field 'synthetic.meta.mean' holds inf; expected finite numbers\."),
    ({"mean": "abc"}, r"field 'synthetic.meta.mean' is \"abc\", not numbers a tensor holds"),
    ({"mean": [0.1, 0.2, 0.3]}, r"the set's normalisation mean of 'x' has shape \(3,\), which does not fit its samples"),
])
def test_statistics_a_consumer_cannot_use_are_refused_by_load_show_and_export(root, tmp_path, capsys, meta, said):
    """Walk 39A: a std of 0 or NaN loaded (a consumer's (raw - mean) / std gave inf/NaN) and exported; statistics that are
    not numbers passed show, which says it loads the set; the load error named no file."""
    from mmdistill.cli import main

    out = _edited_set(root, tmp_path, **meta)
    with pytest.raises(ArtifactError, match=said) as err:
        mmdistill.load(out)
    assert str(err.value).startswith(f"{out / 'manifest.json'}: ")
    for command in (["show", str(out)], ["export", str(out), "--to", str(tmp_path / "png")]):
        assert main(command) == 4
        assert f"error: {out / 'manifest.json'}" in capsys.readouterr().err  # export: "... and synthetic.safetensors" for a shape
    assert not (tmp_path / "png").exists()


def test_a_graph_constant_feature_and_per_coefficient_statistics_still_load(root):
    for name in ("audio", "graph", "video"):
        assert len(mmdistill.load(make_set(name, root / name))) > 0  # valid statistics are never refused


def test_a_sequence_summary_export_says_which_item_each_entry_of_x_is(tmp_path):
    """The --to hf export of a sequence summary holds ``x`` (S, L, N) distributions with no item ids of their own: its
    description and card say the last axis follows ``synthetic.meta.item_ids``, and that order is the one its ``items``
    column (each position's most probable item) was written in."""
    datasets = pytest.importorskip("datasets")
    from mmdistill.share import export_hf

    saved = make_set("sequences", tmp_path / "seq")
    out = export_hf(saved, tmp_path / "hf")
    hf = datasets.load_from_disk(str(out))
    said = hf.info.description
    assert "its last axis lists the items in the order of the manifest's `synthetic.meta.item_ids`" in said
    assert "`synthetic.meta.item_ids`" in (out / "README.md").read_text()
    ids = json.loads((out / "mmdistill" / "manifest.json").read_text())["synthetic"]["meta"]["item_ids"]
    assert f"({len(ids)} items)" in said
    row = hf.select_columns(["x", "items"]).with_format("numpy")[0]
    assert [ids[int(i)] for i in row["x"].argmax(-1)] == list(row["items"])

