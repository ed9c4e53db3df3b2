"""Walk 53N: each adapter says in words what its preview.png shows (the card's alt text for it, sharing.preview_words)."""

import torch

from mmdistill.modality import get_modality
from mmdistill.synthetic import SyntheticSet


def test_video_preview_words_name_the_class_rows_and_frames():
    syn = SyntheticSet({"x": torch.rand(4, 3, 8, 6, 6)}, torch.tensor([0, 0, 1, 2]), 3, meta={"classes": ["run", "jump", "sit"]})
    said = get_modality("video").preview_words(syn)
    assert said.startswith("3 rows, one per class, its first clip: run, jump, sit; each row the clip's 8 frames left to right")


def test_image_text_preview_words_say_how_many_of_the_images_are_shown():
    syn = SyntheticSet({"images": torch.rand(50, 3, 4, 4), "text": torch.rand(50, 8)}, torch.arange(50), 50, meta={"preview_max": 40})
    assert get_modality("image_text").preview_words(syn).startswith("a grid of the first 40 of 50 synthetic images")


def test_a_modality_without_words_keeps_the_generic_alt_text(tmp_path):
    from mmdistill.card_pictures import picture_lines
    from mmdistill.report import _preview_words

    manifest = {"recipe": "r", "dataset": "d", "sample_noun": "image", "synthetic": {"tensors": {"labels": [2]}}}
    _preview_words(manifest, object(), SyntheticSet({"x": torch.zeros(2, 1)}, torch.tensor([0, 1]), 2))
    (tmp_path / "preview.png").write_bytes(b"\x89PNG")
    assert "preview_words" not in manifest and "as the modality draws them" in "\n".join(picture_lines(tmp_path, manifest))
