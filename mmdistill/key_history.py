"""The upgrade history of the configuration keys: what a config or checkpoint saved before a key existed ran with.

One job: keys absent from sets, configs and checkpoints written before version X mean Y. :data:`INHERITED_KEYS` (another
saved key's value), :data:`ABSENT_BEFORE` (a fixed value), :data:`ABSENT_BEFORE_FROM` (a value read from the saved
config) and :func:`values_before_keys`, which reads the three (resume in ``loop``, ``compare``'s fill of keys added
since, ``recipe``'s re-scoring of a saved set). ``tests/test_resume_after_upgrade.py`` holds every key added since its
pinned release to an entry here. :mod:`mmdistill.schema` re-exports the names.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

#: keys added after sets were saved whose value was another key's before: a saved config (or checkpoint) without the
#: key had ``{key: that key}``'s value. Held-out splits drawn from data without one followed the run's ``seed``
#: until ``split_seed`` existed, so a set saved then is scored on its own seed's split (never on its training samples);
#: the audio-visual frame encoder had the audio encoder's ``depth`` until ``image_depth`` existed.
INHERITED_KEYS: dict[str, str] = {"split_seed": "seed", "image_depth": "depth"}
#: keys added after sets were saved whose behaviour before was a fixed value: a saved config (or checkpoint) without the
#: key ran with that value (no DC evaluation augmentation; static/dynamic's step-size momentum 0.5; the audio-visual
#: encoders pooled to the smaller final map with the core ConvNet's padding, its log-mel by the audio front end, scaled by
#: the training split's statistics, and evaluated with a decay after every ``eval_lr_step`` epochs and PyTorch's
#: default heads). The names are global: another config family adding a key of one of these names
#: would inherit the value for its own older saves, so such a key needs a name of its own.
ABSENT_BEFORE: dict[str, Any] = {"eval_dc_augment": "none", "momentum_lr": 0.5, "embed_grid": 0, "one_channel_padding": 0,
                                 "front_end": "fdmfcc", "scaling": "split", "eval_lr_schedule": "every",
                                 "eval_head_init": "default",
                                 # session 52: no grouping of a CSV's rows (audio, audio-visual); a log's columns found by name
                                 "group_by": None, "user_column": None, "item_column": None, "time_column": None,
                                 # walk 52L: the student's step size started at lr_teacher
                                 "lr_student": None,
                                 # session 51's classes= key (walk 51F): every class of the data was distilled
                                 "classes": [],
                                 # walk 53A: MTT's ZCA whitening (image-mtt/tesla); a set saved before ran without it
                                 "zca": False,
                                 # walk 54A: video frames squeezed to a square, picked by index whatever the frame rate
                                 "resize": "squeeze", "sample_fps": None,
                                 # session 55: no ESC-50/UrbanSound8K folds, no HMDB51 split folder (split 1 its default),
                                 # images normalised with the data's own statistics, no audio-visual validation split
                                 "test_fold": None, "split_number": 1, "normalization": "data", "validation": 0.0}
#: keys added after sets were saved whose value before depends on another saved key: {key: saved config -> value}.
#: validation= drew samples one by one until session 55 (whatever group the data knew them in); without validation the
#: key changes nothing, so such a config takes the default (a resume or compare of it sees no difference).
#: generated_seed (session 56): the generated tones / tones-digits were drawn from the run's ``seed`` before; where the
#: saved split_seed (or, older still, none) equals its seed the data is the same either way, and any other dataset is read
#: from files, so those take the default and resume or compare as before.
ABSENT_BEFORE_FROM: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "validation_groups": lambda saved: not saved.get("validation"),
    "generated_seed": lambda saved: "seed" if _generated_from_own_seed(saved) else "split_seed"}

#: the datasets drawn from a seed that ``generated_seed`` chooses (the audio and audio-visual adapters' defaults)
SEEDED_GENERATED_DATASETS = ("tones", "tones-digits")


def _generated_from_own_seed(saved: Mapping[str, Any]) -> bool:
    """Whether ``saved`` (a config or checkpoint of before ``generated_seed``) drew generated data from its ``seed`` other
    than what its ``split_seed`` would draw now."""
    generated = str(saved.get("dataset", "")).strip().lower() in SEEDED_GENERATED_DATASETS
    return generated and saved.get("split_seed", saved.get("seed")) != saved.get("seed")


def values_before_keys(saved: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The values a config or checkpoint ``saved`` before some of ``keys`` existed ran with: :data:`INHERITED_KEYS`
    (another saved key's value), :data:`ABSENT_BEFORE` (a fixed value) and :data:`ABSENT_BEFORE_FROM` (a value read from
    ``saved``), for each of ``keys`` that ``saved`` lacks."""
    out = {new: saved[old] for new, old in INHERITED_KEYS.items() if new in keys and new not in saved and old in saved}
    out.update({k: v for k, v in ABSENT_BEFORE.items() if k in keys and k not in saved})
    out.update({k: rule(saved) for k, rule in ABSENT_BEFORE_FROM.items() if k in keys and k not in saved})
    return out


__all__ = ["ABSENT_BEFORE", "ABSENT_BEFORE_FROM", "INHERITED_KEYS", "SEEDED_GENERATED_DATASETS", "values_before_keys"]
