"""Walk 53M: a set written before its ``inputs_like`` hook's key was recorded (this morning's 71b9d1d: a sequence set
without ``max_len``, an audio-visual set without ``image_size``, an image-text set without ``max_caption_words``) is
prepared from the run's config in its manifest, which every run folder and ``--to hf`` export carries. Before:
``ds.inputs_like`` refused the first two ('pass max_len= (the run's config.max_len, in its manifest)', 'pass
image_size= (... ds.inputs['image'].shape[-1])', values mmdistill held) and cut the third's captions at the default
30 words with a warning, whatever the run had set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import mmdistill
from mmdistill.inputs_like import options_from_record
from mmdistill.report import new_manifest, write_artifact
from mmdistill.seeding import generator


def _saved_before(modality, data, cfg, out: Path, recipe: str, unrecorded: str) -> Path:
    """The set as 71b9d1d wrote it: its meta without ``unrecorded``, its manifest's config with it."""
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))
    del syn.meta[unrecorded]
    manifest = new_manifest(recipe=recipe, method="test", modality=modality, dataset=data.name, cfg=cfg, syn=syn)
    out.mkdir()
    write_artifact(out, syn.detached(), manifest, modality)
    return out


def test_an_older_sequence_set_without_max_len_takes_its_runs_config(tmp_path):
    from test_inputs_like_pairs import _interaction_log

    from mmdistill.modalities.sequences import MODALITY
    from mmdistill.recipes.sequences_farzi import RECIPE

    rows = _interaction_log(tmp_path / "log.csv")
    cfg = RECIPE.config_cls(dataset="csv", data_root=str(tmp_path / "log.csv"), max_len=4, seq_num=2, seq_len=3)
    data = MODALITY.load(cfg)
    ds = mmdistill.load(_saved_before(MODALITY, data, cfg, tmp_path / "run", "sequences-farzi", "max_len"))
    assert "max_len" not in ds.synthetic.meta and ds.manifest["config"]["max_len"] == 4
    histories = [[item for _, item in sorted(rows[u])][:-1] for u in data.users]
    torch.testing.assert_close(ds.inputs_like(histories), data.eval_inputs("test")[0])  # cut to 4, as the loader did
    assert ds.inputs_like(histories, max_len=6).shape == (len(histories), 6)  # an option given wins


def test_an_older_audio_visual_set_without_image_size_takes_its_runs_config(tmp_path):
    pytest.importorskip("soundfile")
    from test_audio_visual import _cfg, _write_csv_set

    from mmdistill.modalities.audio_visual import MODALITY

    path = _write_csv_set(tmp_path / "set")
    cfg = _cfg(dataset="csv", data_root=str(path), image_size=12, scaling="split", ipc=1, multi_formation=1, init="real")
    data = MODALITY.load(cfg)
    ds = mmdistill.load(_saved_before(MODALITY, data, cfg, tmp_path / "run", "audio-visual-avdd", "image_size"))
    out = ds.inputs_like({"image": [path.parent / f"i{c}3.png" for c in range(2)]})
    torch.testing.assert_close(out["image"], data.test.image)


class _Adapter:
    inputs_like_recorded = {"max_words": ("max_caption_words", "max_caption_words")}


def test_a_recorded_key_or_a_given_option_wins_over_the_config_and_a_missing_value_is_left_to_the_hook():
    config = {"max_caption_words": 7}
    assert options_from_record(_Adapter(), {}, config, {}) == {"max_words": 7}
    assert options_from_record(_Adapter(), {"max_caption_words": 30}, config, {}) == {}  # the set records it
    assert options_from_record(_Adapter(), {}, config, {"max_words": 3}) == {"max_words": 3}
    assert options_from_record(_Adapter(), {}, None, {}) == {}  # no manifest (a bare set): the hook says what to pass
    assert options_from_record(_Adapter(), {}, {"max_caption_words": [1]}, {}) == {}  # not a value: left to the hook
    assert options_from_record(object(), {}, config, {"x": 1}) == {"x": 1}  # an adapter with nothing recorded later


@pytest.mark.parametrize("modality", ["sequences", "image_text", "audio_visual"])
def test_every_recorded_option_is_an_option_of_the_hook_and_a_key_of_the_config(modality):
    import importlib
    import inspect

    from mmdistill.recipes import RECIPES, get_recipe

    adapter = importlib.import_module(f"mmdistill.modalities.{modality}").MODALITY
    like = {"sequences": "items_like", "image_text": "pairs_like", "audio_visual": "av_like"}[modality]
    params = inspect.signature(getattr(importlib.import_module(f"mmdistill.modalities.{modality}"), like)).parameters
    recipe = next(get_recipe(n) for n in sorted(RECIPES) if get_recipe(n).modality == modality)
    fields = set(recipe.config_cls.__dataclass_fields__)
    assert adapter.inputs_like_recorded
    for option, (_, config_key) in adapter.inputs_like_recorded.items():
        assert option in params, (like, option)
        assert config_key in fields, (modality, config_key)
