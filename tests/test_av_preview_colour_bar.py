"""Walk 54B: the audio-visual preview's log-mel spectrograms had no colour bar and no unit, so a reader of a grey print
(or of the colours without a key) could not tell loud from quiet. They now have a dB colour bar (the shared
:func:`mmdistill.modalities.colour_bars.value_bar`, as the audio preview's bars since walk 53N), a colour map whose
lightness rises with the level, and the key under the title and in the card's alt text (preview_words)."""

from __future__ import annotations

import numpy as np
import torch

from mmdistill.modality import get_modality
from mmdistill.synthetic import SyntheticSet


def _meta() -> dict:
    from mmdistill.modalities.audio.features import FDMFCCParams

    return {"features": FDMFCCParams(n_mels=16).to_dict(), "audio_mean": -40.0, "audio_std": 10.0, "image_mean": [0.5],
            "image_std": [0.25]}


def test_pair_preview_has_a_db_colour_bar_on_the_spectrograms_scale_and_a_key(tmp_path, monkeypatch):
    from mmdistill.modalities.audio_visual import export

    figures = []
    monkeypatch.setattr(export, "save_figure", lambda fig, path: figures.append(fig) or path)
    g = torch.Generator().manual_seed(0)
    audio, image = torch.randn(3, 1, 16, 12, generator=g), torch.randn(3, 1, 8, 8, generator=g)
    export.save_pair_preview(audio, image, torch.tensor([0, 1, 1]), ["a", "b"], _meta(), tmp_path / "p.png", title="t")
    fig = figures[0]
    bars = [(ax, child) for ax in fig.axes for child in ax.child_axes]
    assert len(bars) == 1  # one scale for every spectrogram: one bar, beside the first row's last spectrogram
    owner, cax = bars[0]
    assert owner.get_title() == "log-mel (dB)" and owner is fig.axes[1]  # class "a" has one pair: its row's only spectrogram
    assert cax.get_ylabel() == "dB"
    lo, hi = owner.images[0].get_clim()
    assert [t.get_text() for t in cax.get_yticklabels()] == [f"{lo:.0f}", f"{hi:.0f}"]
    assert export.BAR_KEY in fig._suptitle.get_text() and fig._suptitle.get_text().startswith("t")
    import matplotlib

    rgb = np.asarray(matplotlib.colormaps[export.MEL_CMAP](np.linspace(0, 1, 32)))[:, :3]
    assert (np.diff(rgb @ np.array([0.299, 0.587, 0.114])) > 0).all()  # grey print: lighter is louder
    assert owner.images[0].get_cmap().name == export.MEL_CMAP


def test_audio_visual_preview_words_carry_the_colour_bars_key():
    from mmdistill.modalities.audio_visual.export import BAR_KEY

    syn = SyntheticSet({"audio": torch.rand(2, 1, 4, 4), "image": torch.rand(2, 3, 4, 4)}, torch.tensor([0, 1]), 2,
                       meta={"classes": ["dog", "siren"]})
    said = get_modality("audio_visual").preview_words(syn)
    assert BAR_KEY in said and "in dB" in said and "lighter is louder" in said
