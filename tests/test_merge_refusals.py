"""Walk 53M: ``mmdistill merge`` of sets it cannot join is refused before it loads any data, in one line that names
the part and why. Before: two sequence sets stopped with "config key 'ipc' (in changes) does not apply to recipe
sequences-farzi: use seq_num", a key the user never gave; two audio-visual sets with "the synthetic set has no 'data.x'
tensor (it holds data.audio, data.image) ...: the file is damaged", about files that were not."""

from __future__ import annotations

import pytest

from mmdistill.errors import ConfigError
from mmdistill.merge import merge


def test_sequence_sets_are_refused_as_not_counted_per_class(tmp_path):
    from test_inputs_like_old_sets import _saved_before
    from test_inputs_like_pairs import _interaction_log

    from mmdistill.modalities.sequences import MODALITY
    from mmdistill.recipes.sequences_farzi import RECIPE

    _interaction_log(tmp_path / "log.csv")
    cfg = RECIPE.config_cls(dataset="csv", data_root=str(tmp_path / "log.csv"), max_len=4, seq_num=2, seq_len=3)
    data = MODALITY.load(cfg)
    parts = [_saved_before(MODALITY, data, cfg, tmp_path / f"p{i}", "sequences-farzi", "max_len") for i in range(2)]
    with pytest.raises(ConfigError, match=r"p0: sequences-farzi's sets cannot be merged: a sequence summary does not concatenate: "
                       r"TD3's Tucker factors .* Distil one summary from the union of the clients' logs"):
        merge(parts, tmp_path / "merged", evaluate=False)
    assert not (tmp_path / "merged").exists()


def test_classes_of_image_text_sets_are_refused_saying_pairs_have_no_classes(tmp_path):
    """Walk 54C: image-text sets merge (tests/test_merge_pairs.py), but --classes has nothing to pick; before, every
    such merge stopped with "its set is stored as images, text, not raw inputs 'x'", as if the set were damaged."""
    import torch

    from mmdistill.modalities.image_text import MODALITY
    from mmdistill.recipes.image_text_lors import RECIPE
    from mmdistill.report import new_manifest, write_artifact
    from mmdistill.synthetic import SyntheticSet

    cfg = RECIPE.config_cls(dataset="csv", data_root=str(tmp_path / "pairs.csv"), ipc=2, image_size=8)
    syn = SyntheticSet(data={"images": torch.zeros(2, 3, 8, 8), "text": torch.zeros(2, 4)}, labels=torch.zeros(2, dtype=torch.long),
                       num_classes=1, meta={"pairs": 2, "ipc": 2, "similarity": "none", "image_size": 8, "text_encoder": "hf:bert",
                                            "image_encoder": "convnet", "text_dim": 4, "mean": [0.5] * 3, "std": [0.25] * 3})
    for i in range(2):  # two clients' sets, as a run writes them (no data is read: merge refuses them before)
        (tmp_path / f"p{i}").mkdir()
        write_artifact(tmp_path / f"p{i}", syn, new_manifest(recipe="image-text-lors", method="test", modality=MODALITY, dataset="pairs",
                                                             cfg=cfg, syn=syn), MODALITY)
    with pytest.raises(ConfigError, match=r"^--classes a: image-text-lors's sets are pairs with no classes, so merge has none to "
                                          r"pick; leave --classes out \(every part's pairs are kept\)"):
        merge([tmp_path / "p0", tmp_path / "p1"], tmp_path / "merged", classes=["a"], evaluate=False)
    assert not (tmp_path / "merged").exists()
