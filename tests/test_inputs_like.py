"""Walk 52K: one entry point for a consumer's own real data prepared as a distilled set's samples were,
``DistilledSet.inputs_like(raw, **options)``, dispatching to the adapter's optional sharing hook ``inputs_like``
(before: audio's ``maps_like`` and video's ``clips_like`` only, each found by its module; other modalities had none and
nothing said so)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import mmdistill
from mmdistill.errors import ConfigError
from mmdistill.inputs_like import prepare_like
from mmdistill.modality import AdapterDefaults
from mmdistill.report import new_manifest, write_artifact
from mmdistill.seeding import generator
from frame_folders import write_frames  # tests/frame_folders.py


def _frames(root: Path) -> Path:
    """root/<class>/<clip>/frame_N.png: two classes of three 6-frame clips of 12 x 8 RGB frames."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(3):
            write_frames(root / cls / f"clip{i}", 6, 12, 8, rng)
    return root


def _saved(modality, data, cfg, out: Path, recipe: str) -> Path:
    syn = modality.init_synthetic(data, cfg, generator(0, "init"))
    manifest = new_manifest(recipe=recipe, method="test", modality=modality, dataset=data.name, cfg=cfg, syn=syn)
    out.mkdir()
    write_artifact(out, syn.detached(), manifest, modality)
    return out


def test_a_loaded_video_set_prepares_your_clips_as_its_loader_did(tmp_path):
    """Before: ``ds.inputs_like`` did not exist; a user had to know that video's helper is
    ``mmdistill.modalities.video.clips_like``. Now the loaded set dispatches to the adapter's hook."""
    from mmdistill.modalities.video import MODALITY, clips_like
    from mmdistill.modalities.video.datasets import discover
    from mmdistill.recipes.video_dm import RECIPE

    root = _frames(tmp_path / "data")
    cfg = RECIPE.config_cls(dataset="frames", data_root=str(root), num_frames=3, frame_gap=2, frame_size=8, cache=False,
                            test_fraction=0.4, ipc=1)
    data = MODALITY.load(cfg)
    ds = mmdistill.load(_saved(MODALITY, data, cfg, tmp_path / "run", "video-dm"))
    test = [it.path for it in discover(root, "frames", None, 0.4, 0) if it.split == "test"]
    x = ds.inputs_like(test, root=root)
    torch.testing.assert_close(x, data.test.x)
    torch.testing.assert_close(x, clips_like(ds, test, root=root))


def test_an_adapter_without_the_hook_is_named(tmp_path):
    class Tabular(AdapterDefaults):
        name = "tabular"

    class Bare:  # a plugin that does not inherit the defaults
        name = "rows"

    syn = type("Syn", (), {"meta": {}})()
    for modality, name in ((Tabular(), "tabular"), (Bare(), "rows")):
        with pytest.raises(ConfigError, match=rf"the {name} adapter does not prepare your own data .*ds\.normalization"):
            prepare_like(modality, syn, [tmp_path / "a.csv"])


def test_prepared_samples_of_another_shape_than_the_sets_are_refused():
    class Scaled(AdapterDefaults):
        name = "toy"

        def inputs_like(self, syn, raw, **options):
            return torch.as_tensor(raw, dtype=torch.float32) * 2

    out = prepare_like(Scaled(), None, [[1.0, 2.0]], reference=torch.zeros(4, 2))
    torch.testing.assert_close(out, torch.tensor([[2.0, 4.0]]))
    with pytest.raises(ConfigError, match=r"prepared to shape \(3,\) but the set's toy samples are \(2,\)"):
        prepare_like(Scaled(), None, [[1.0, 2.0, 3.0]], reference=torch.zeros(4, 2))


def test_the_audio_adapter_prepares_recordings_through_the_hook(tmp_path):
    pytest.importorskip("soundfile")
    pytest.importorskip("torchaudio")
    from types import SimpleNamespace

    from test_audio_prepare import _own_csv

    from mmdistill.modalities.audio import MODALITY
    from mmdistill.modalities.audio.config import AudioDistillConfig

    csv = _own_csv(tmp_path)
    data = MODALITY.load(AudioDistillConfig(dataset="folder", data_root=str(csv), sample_rate=8000, duration=0.3))
    syn = SimpleNamespace(meta=dict(data.meta))
    files = [tmp_path / k / "4.wav" for k in ("rising", "steady")]
    x = prepare_like(MODALITY, syn, files, reference=data.train.x)
    torch.testing.assert_close(x, data.test.x, atol=1e-4, rtol=1e-4)


def test_the_readme_section_names_every_modality_with_or_without_the_hook():
    """The README's section lists each modality whose adapter prepares one's own data (its row) and the others by name,
    so a new hook or a modality added without one cannot go unsaid."""
    from mmdistill.modality import REGISTERED_MODALITIES, get_modality
    from mmdistill.sharing import ShareDefaults

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Your own test data, prepared as the set's", 1)[1].split("\n#", 1)[0]
    spoken = {"audio_visual": "Audio-visual", "image_text": "image-text", "sequences": "sequence"}
    for name in REGISTERED_MODALITIES:
        has_hook = type(get_modality(name)).inputs_like is not ShareDefaults.inputs_like
        if has_hook:
            assert f"\n| {name} |" in section, name
        else:
            assert spoken.get(name, name) in section.split("have no such hook", 1)[0].rsplit("\n\n", 1)[-1], name


def test_the_readme_sharing_paragraphs_stay_under_their_section_heading():
    """The section's paragraphs (checking a received set, Hugging Face, what an export leaves out, the card, the
    memorisation check that the README's opening links to) come before its first sub-heading: the inputs_like section
    placed above them made them read, in a rendered table of contents, as part of 'Your own test data'."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Share a distilled set", 1)[1].split("\n## ", 1)[0]
    before_subsections = section.split("\n### ", 1)[0]
    for paragraph in ("**Checking a received set.**", "**Hugging Face.**", "**What an export leaves out.**",
                      "**The dataset card.**", "**The memorisation check.**"):
        assert paragraph in before_subsections, paragraph


def test_as_items_takes_one_pil_image_as_one_item_and_is_pil_tells_it():
    """Review 53: the image and image-text prepare modules each told a PIL image by its type's module, and wrapped one
    image given alone in a step of their own before as_items: one shared is_pil, and as_items wraps a PIL image."""
    from PIL import Image

    from mmdistill.inputs_like import as_items, is_pil

    img = Image.new("RGB", (4, 3))
    assert is_pil(img) and not is_pil("a.png") and not is_pil(torch.zeros(1)) and not is_pil([img])
    assert as_items(img) == [img] and as_items("a.png") == ["a.png"]
    many = [img, img]
    assert as_items(many) is many
