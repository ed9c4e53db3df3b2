"""Session 55: the name checks of video's and audio-visual's ``register_tensors`` and of ``register_graph`` were three
copies of one check; they are :func:`mmdistill.modality.registration_name`, their refusals worded as before."""

from __future__ import annotations

import pytest

from mmdistill.errors import ConfigError
from mmdistill.modality import registration_name
from mmdistill.modalities.audio_visual import register_tensors as av_register
from mmdistill.modalities.graph.registered import register_graph
from mmdistill.modalities.video.adapter import register_tensors as video_register


def test_the_helper_refuses_a_name_that_is_no_text_or_a_built_in_one():
    for bad in (None, "", "  ", 3):
        with pytest.raises(ConfigError, match=rf"^f: name must be a non-empty string, got {bad!r}$"):
            registration_name("f", bad, lambda n: None)
    with pytest.raises(ConfigError, match="^taken$"):
        registration_name("f", "csv", lambda n: "taken")
    assert registration_name("f", "mine", lambda n: None) == "mine"


@pytest.mark.parametrize("register, function, nones", [(video_register, "register_tensors", 4),
                                                       (av_register, "register_tensors", 6),
                                                       (register_graph, "register_graph", 1)])
def test_each_registration_refuses_as_before(register, function, nones):
    for bad in (None, "", " ", 3):
        with pytest.raises(ConfigError, match=rf"^{function}: name must be a non-empty string, got {bad!r}$"):
            register(bad, *[None] * nones)
    taken = {"register_graph": ("PyG:x", "register_graph: 'PyG:x' is a built-in graph dataset name; choose another")}.get(
        function, ("CSV", "'CSV' is a built-in dataset name (csv); choose another") if nones == 6 else
        ("Moving_Digits", "'Moving_Digits' is a built-in dataset name (moving-digits); choose another"))
    with pytest.raises(ConfigError) as refused:
        register(taken[0], *[None] * nones)
    assert str(refused.value) == taken[1]
