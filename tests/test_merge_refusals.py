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
    with pytest.raises(ConfigError, match=r"p0: sequences-farzi's sets are not counted in samples per class"):
        merge(parts, tmp_path / "merged", evaluate=False)
    assert not (tmp_path / "merged").exists()
