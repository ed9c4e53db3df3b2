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


def test_audio_visual_preview_words_name_the_class_rows_and_the_pairs_drawn():
    """(Lead, after walk 53N: the audio-visual and sequences hooks had no test.) The pairs per row are the preview's own
    constant (export.PREVIEW_PER_CLASS), not a copy of it."""
    from mmdistill.modalities.audio_visual.export import PREVIEW_PER_CLASS

    syn = SyntheticSet({"audio": torch.rand(7, 1, 4, 4), "image": torch.rand(7, 3, 4, 4)}, torch.tensor([0] * 6 + [1]), 2,
                       meta={"classes": ["dog", "siren"]})
    said = get_modality("audio_visual").preview_words(syn)
    assert said.startswith("2 rows, one per class") and "dog" in said and "siren" in said
    assert f"first {PREVIEW_PER_CLASS} pairs" in said and "log-mel spectrogram in dB" in said


def test_sequences_preview_words_count_the_table_from_the_summary():
    from test_sequences import tiny

    from mmdistill.modalities.sequences import MODALITY
    from mmdistill.modalities.sequences.export import PREVIEW_POSITIONS, PREVIEW_SEQUENCES
    from mmdistill.seeding import generator

    cfg = tiny()
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    s, length = cfg.seq_num, cfg.seq_len
    said = MODALITY.preview_words(syn)
    assert said == (f"a table: one column for each of the first {min(PREVIEW_SEQUENCES, s)} of {s} synthetic sequences, one row "
                    f"for each of the first {min(PREVIEW_POSITIONS, length)} of {length} positions, the most probable item's "
                    "name and probability")


def test_preview_words_are_screened_on_load_and_written_clean():
    """(Walk 54E.) ``preview_words`` is free text written from class names and printed in the card's alt text: a manifest
    edited by hand or received could carry a terminal escape in it, which the load screened in names only. The reader
    refuses it as it does a name's; a run writes it cleaned, so a class name holding one still loads."""
    import pytest

    from mmdistill.errors import ArtifactError
    from mmdistill.io import check_manifest
    from mmdistill.report import _preview_words

    base = {"format": "mmdistill.set/1", "synthetic": {"tensors": {}}}
    assert check_manifest({**base, "preview_words": "2 rows, one per class: cat, dog"}, "m.json")
    for bad in ("rows: \x1b[2J\x1b[31mcat", "cat\u202egod"):
        with pytest.raises(ArtifactError, match=r"m.json: field 'preview_words' is .*; the preview's words .* hold no line break"):
            check_manifest({**base, "preview_words": bad}, "m.json")

    class Escaping:
        def preview_words(self, syn: SyntheticSet) -> str:
            return "1 row: \x1b[31mred\ncat"

    manifest = dict(base)
    _preview_words(manifest, Escaping(), SyntheticSet({"x": torch.zeros(1, 1)}, torch.tensor([0]), 1))
    assert manifest["preview_words"] == "1 row: _[31mred cat" and check_manifest(manifest, "m.json")


def test_image_preview_words_name_the_class_rows_size_and_colour():
    """(Walk 54E.) An image set's preview had the card's generic alt text ("as the modality draws them"): now the grid's
    class rows (how many images of which classes, the preview's own PREVIEW_PER_CLASS), the images' size and colour."""
    from mmdistill.modalities.image.export import PREVIEW_PER_CLASS

    labels = torch.tensor([0] * (PREVIEW_PER_CLASS + 2) + [2] * 3)
    syn = SyntheticSet({"x": torch.rand(len(labels), 1, 8, 6)}, labels, 3,
                       meta={"classes": ["zero", "one", "two"], "mean": [0.5], "std": [0.25]})
    assert get_modality("image").preview_words(syn) == (
        f"a grid of 8 x 6 px greyscale images in 2 rows, one per class, its first {PREVIEW_PER_CLASS} images: zero, two (3); "
        "each image the set's pixels de-normalised and clamped to [0, 1], enlarged without smoothing")


def test_an_image_card_describes_its_preview(tmp_path):
    """The words reach the card: its Pictures section's alt text of preview.png names the class rows."""
    from mmdistill.card_pictures import picture_lines
    from mmdistill.report import _preview_words

    syn = SyntheticSet({"x": torch.rand(2, 3, 4, 4)}, torch.tensor([0, 1]), 2, meta={"classes": ["cat", "dog"]})
    manifest = {"recipe": "image-dm", "dataset": "pets", "sample_noun": "image", "synthetic": {"tensors": {"labels": [2]}}}
    _preview_words(manifest, get_modality("image"), syn)
    (tmp_path / "preview.png").write_bytes(b"\x89PNG")
    assert ("![preview of the 2 images of image-dm on pets: a grid of 4 x 4 px colour images in 2 rows, one per class, its "
            "first image: cat, dog; each image") in "\n".join(picture_lines(tmp_path, manifest))


def test_a_whitened_image_sets_preview_words_say_its_pixels_are_unwhitened():
    from mmdistill.modalities.image.zca import fit_zca, meta_of

    fit = fit_zca(torch.rand(20, 1, 3, 3, generator=torch.Generator().manual_seed(0)))
    syn = SyntheticSet(data={"x": torch.zeros(2, 1, 3, 3)}, labels=torch.tensor([0, 1]), num_classes=2,
                       meta={"zca": meta_of(fit, 20)}, fixed=fit.tensors())
    said = get_modality("image").preview_words(syn)
    assert said.startswith("a grid of 3 x 3 px greyscale images in 2 rows, one per class, its first image: 0, 1")
    assert "de-normalised, un-whitened (the set is stored ZCA-whitened) and clamped" in said
