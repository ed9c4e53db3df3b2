"""Walk 54C: ``mmdistill merge`` of audio-visual sets (federated clients, each distilling its own classes or shard of
the same data). Before: every such merge stopped with "its set is stored as audio, image, not raw inputs 'x'".
Each side is converted exactly with its own statistics (the audio's one mean/std in dB, the frames' per channel)."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError
from mmdistill.merge import merge
from mmdistill.report import new_manifest, write_artifact
from mmdistill.seeding import generator
from mmdistill.share import load


def _register(name: str, classes: list[int], loud: float) -> str:
    """Pairs of the classes ``classes`` of a, b, c, d (their index in the full data), ``loud`` scaling the waveforms: each
    client's own statistics differ."""
    from test_audio_visual import _images, _waves

    from mmdistill.modalities.audio_visual import register_tensors

    y_tr, y_te = torch.tensor(classes).repeat_interleave(4), torch.tensor(classes).repeat_interleave(2)
    names = ["a", "b", "c", "d"]
    local = {c: i for i, c in enumerate(classes)}
    relabel = lambda y: torch.tensor([local[int(c)] for c in y])  # noqa: E731 -- labels index the client's own classes
    return register_tensors(name, loud * _waves(y_tr), _images(y_tr), relabel(y_tr), loud * _waves(y_te), _images(y_te),
                            relabel(y_te), [names[c] for c in classes])


def _part(tmp, name: str, classes: list[int], loud: float, multi_formation: int = 1):
    from test_audio_visual import _cfg

    from mmdistill.modalities.audio_visual import MODALITY

    cfg = _cfg("audio_visual_dm", dataset=_register(name, classes, loud), scaling="split", ipc=1, init="real", multi_formation=multi_formation)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    out = tmp / name
    out.mkdir()
    write_artifact(out, syn.detached(), new_manifest(recipe="audio-visual-dm", method="test", modality=MODALITY, dataset=data.name,
                                                     cfg=cfg, syn=syn), MODALITY)
    return out


def _raw(ds, side: str) -> torch.Tensor:
    stats = ds.normalization[side]
    shape = (1, -1, 1, 1) if stats["mean"].dim() else ()
    return ds.synthetic.data[side] * stats["std"].reshape(shape) + stats["mean"].reshape(shape)


def test_audio_visual_clients_merge_by_class_name_each_side_converted_with_its_statistics(tmp_path):
    pytest.importorskip("torchaudio")
    p1, p2 = _part(tmp_path, "client-ab", [0, 1], 1.0), _part(tmp_path, "client-cd", [2, 3], 0.3)
    _register("av-all", [0, 1, 2, 3], 1.0)
    out = merge([p1, p2], tmp_path / "merged", dataset="av-all", evaluate=False)
    merged, a, c = load(out), load(p1), load(p2)
    assert merged.classes == ["a", "b", "c", "d"] and merged.synthetic.labels.tolist() == [0, 1, 2, 3] and int(c.synthetic.labels[0]) == 0
    assert a.synthetic.meta["audio_mean"] != c.synthetic.meta["audio_mean"] != merged.synthetic.meta["audio_mean"]
    for side in ("audio", "image"):
        torch.testing.assert_close(_raw(merged, side)[:2], _raw(a, side), atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(_raw(merged, side)[2:], _raw(c, side), atol=1e-4, rtol=1e-5)
    parts = merged.manifest["merged_from"]
    assert [p["classes"] for p in parts] == [["a", "b"], ["c", "d"]] and parts[1]["audio_mean"] == c.synthetic.meta["audio_mean"]
    assert (out / "preview.png").is_file() and merged.synthetic.meta["init"] == "merged"


def test_an_audio_visual_part_of_another_tiling_is_refused_naming_the_field(tmp_path):
    pytest.importorskip("torchaudio")
    p1 = _part(tmp_path, "tiled", [0, 1], 1.0, multi_formation=2)
    p2 = _part(tmp_path, "plain", [2, 3], 1.0)
    _register("av-all2", [0, 1, 2, 3], 1.0)
    with pytest.raises(ConfigError, match=r"plain: its synthetic.meta.multi_formation is 1, the data's 2"):
        merge([p1, p2], tmp_path / "merged", dataset="av-all2", evaluate=False)
