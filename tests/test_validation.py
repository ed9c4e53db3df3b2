"""A validation split carved from the training data is scored in place of the test split."""

import json

import pytest
import torch

from mmdistill.data import ClassificationData, LabeledTensors
from mmdistill.errors import ConfigError
from mmdistill.validation import hold_out_validation


def _data() -> ClassificationData:
    y = torch.tensor([0] * 10 + [1] * 5 + [2] * 2)
    x = torch.arange(len(y), dtype=torch.float32).view(-1, 1, 1, 1)
    test = LabeledTensors(torch.full((3, 1, 1, 1), -1.0), torch.tensor([0, 1, 2]), ["a", "b", "c"])
    return ClassificationData("toy", LabeledTensors(x, y, ["a", "b", "c"]), test, meta={"mean": [0.5]})


def test_split_is_stratified_disjoint_complete_and_fixed():
    data = _data()
    out = hold_out_validation(data, 0.2)
    assert torch.bincount(out.test.y, minlength=3).tolist() == [2, 1, 1]  # round(0.2 n), at least 1 where n >= 2
    assert torch.bincount(out.train.y, minlength=3).tolist() == [8, 4, 1]
    ids_train, ids_val = set(out.train.x.flatten().tolist()), set(out.test.x.flatten().tolist())
    assert not ids_train & ids_val and ids_train | ids_val == set(range(17))  # the test split is not among them
    assert out.meta["scored_on"] == "validation" and out.meta["mean"] == [0.5]
    assert out.meta["validation"]["held_out"] == 4 and out.meta["validation"]["test_split_scored"] is False
    again = hold_out_validation(data, 0.2)
    assert torch.equal(again.test.x, out.test.x)  # one split whatever the run's seed
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ConfigError, match="validation"):
            hold_out_validation(data, bad)


def test_run_scores_on_validation_and_says_so(tmp_path):
    from mmdistill.recipes import image_dm

    out = tmp_path / "run"
    image_dm.run(out=str(out), dataset="digits", ipc=1, iterations=2, batch_real=8, eval_runs=1, eval_epochs=2, herding_epochs=1,
                 baselines=["random_real"], checkpoint_every=2, progress=False, validation=0.1)
    manifest = json.loads((out / "manifest.json").read_text())
    protocol = json.dumps(manifest["metrics"])
    assert '"scored_on": "validation"' in protocol
    # digits: 1,437 training samples; round(10 %) of each class held out = 142 scored samples, the 360 test samples unused
    assert '"validation_samples": 142' in protocol and "test_samples" not in protocol  # was "test_samples": 142
    card = (out / "README.md").read_text()  # the card, picture and summary said "test" of a tuning score
    assert "Validation accuracy of" in card and "Test accuracy of" not in card
    from mmdistill.report import summary_line

    assert "(accuracy on validation samples held out of the training split)" in summary_line(manifest)
    with pytest.raises(ConfigError, match="validation"):
        image_dm.RECIPE.config(validation=1.5)


def test_held_out_flags_draws_a_seeded_share_of_each_class():
    """The per-class draw every loader without a given split uses (image folder, audio, video, audio-visual CSV):
    pinned, so that a change to it (which would move every such user's split) is seen."""
    from mmdistill.data import held_out_flags

    labels, classes = ["a"] * 5 + ["b"] * 2 + ["c"], ["a", "b", "c"]
    # audio / image rule: at least one test item of a class with two or more, never its last training item
    assert held_out_flags(labels, classes, 0.2, 0) == [False, False, False, False, True, False, True, False]
    # video rule: a class whose share rounds to zero holds out nothing
    assert held_out_flags(labels, classes, 0.2, 0, at_least_one=False) == [False, False, False, False, True, False, False, False]
    assert held_out_flags(labels, classes, 0.2, 1) == [True, False, False, False, False, False, True, False]
    assert held_out_flags(labels, classes, 0.9, 0).count(True) == 4 + 1  # a: round(4.5) = 4 of 5, b: clamped to 1 of 2


def test_one_class_is_refused_in_memory_and_on_disk():
    """Walk 39B D6: a single class was accepted; several recipes then reported a trivial 100 %, others crashed in batch
    norm or blamed trajectory matching's settings. Classification data needs two classes; a str ``classes`` (split into
    letters before) is refused too."""
    from mmdistill.errors import DataError
    from mmdistill.modalities.artifacts import check_class_ids

    x = torch.rand(6, 1, 4, 4)
    one = LabeledTensors(x, torch.zeros(6, dtype=torch.long), ["cat"])
    with pytest.raises(DataError, match=r"dataset 'toy' holds only the class 'cat'; classification needs at least 2 classes"):
        ClassificationData("toy", one, one)
    with pytest.raises(DataError, match=r"register_tensors\('m'\): y_train holds only the class '0'; classification needs"):
        check_class_ids("register_tensors('m')", torch.zeros(4, dtype=torch.long), torch.zeros(2, dtype=torch.long))
    with pytest.raises(DataError, match=r"register_tensors\('m'\): classes must be a list of class names, got the string 'ab'"):
        check_class_ids("register_tensors('m')", torch.tensor([0, 1]), torch.tensor([0, 1]), "ab")
    two = LabeledTensors(x, torch.tensor([0, 1, 0, 1, 0, 1]), ["caf\udce9", "tea"])  # a Latin-1 folder name on a UTF-8 system
    with pytest.raises(DataError, match=r"dataset 'toy': the class name 'caf\\udce9' is not UTF-8 text .*convmv"):
        ClassificationData("toy", two, two)


def test_the_card_summary_names_a_validation_score():
    """``mmdistill show`` and ``mmdistill.load(DIR).summary()`` printed "accuracy (convnet): distilled ..." for a set
    scored on the validation split: a tuning score, unlabelled, read by a receiver as the test score (walk 51C)."""
    from mmdistill.card import card_summary

    metrics = {"metric": "accuracy", "network": "convnet", "distilled": {"mean": 0.8, "std": 0.0, "runs": [0.8]},
               "protocol": {"scored_on": "validation", "validation_samples": 142}}
    manifest = {"recipe": "image-dm", "method": "dm", "dataset": "digits", "ipc": 10, "metrics": metrics}
    assert "\nvalidation accuracy (convnet): distilled 80.00 % (one run)" in card_summary(manifest)
    manifest["metrics"] = {**metrics, "protocol": {"scored_on": "test", "test_samples": 360}}
    assert "\naccuracy (convnet): distilled 80.00" in card_summary(manifest)


def test_a_sequence_set_scored_on_its_second_last_item_is_named_a_validation_score():
    """A sequence run with eval_split=validation records no ``scored_on``; its protocol's ``scored`` phrase starts with
    the split (modalities/sequences/evaluate.py), and the card names the score as a validation one."""
    from mmdistill.card import card_summary

    metrics = {"metric": "hr@10", "network": "sasrec", "distilled": {"mean": 0.2, "std": 0.0, "runs": [0.2]},
               "protocol": {"scored": "validation (second-last item; test unread)"}}
    manifest = {"recipe": "sequences-td3", "method": "td3", "dataset": "generated", "ipc": 10, "metrics": metrics}
    assert "\nvalidation hr@10 (sasrec): distilled 20.00 % (one run)" in card_summary(manifest)
    manifest["metrics"] = {**metrics, "protocol": {"scored": "test (last item)"}}
    assert "\nhr@10 (sasrec): distilled 20.00" in card_summary(manifest)


def test_known_groups_are_held_out_whole():
    # walk 55E: ESC-50's folds keep each source recording on one side, but validation=0.1 drew single clips, so takes of
    # one recording were trained on and validated on (a validation score that overstates, as a mixed test split would)
    data = _data()
    data.train_groups = [f"s{i // 2}" for i in range(17)]  # two clips per source, classes a (s0-s4), b (s5-s7), c (s7, s8)
    out = hold_out_validation(data, 0.4)
    ids_val = set(out.test.x.flatten().tolist())
    held = {f"s{int(i) // 2}" for i in ids_val}
    kept = {f"s{int(i) // 2}" for i in out.train.x.flatten().tolist()}
    assert held and not held & kept  # no source on both sides
    assert out.meta["validation"]["held_out_groups"] == len(held) and out.train_groups is None
    assert set(out.train.y.tolist()) == {0, 1, 2}  # every class keeps training samples
    assert torch.equal(hold_out_validation(data, 0.4).test.x, out.test.x)  # fixed, as the ungrouped split
    data.train_groups = [f"spk{i % 4}" for i in range(17)]  # speakers of every class: one speaker held out, not one per class
    speakers = hold_out_validation(data, 0.2)
    assert speakers.meta["validation"]["held_out_groups"] == 1 and set(speakers.train.y.tolist()) == {0, 1, 2}
    data.train_groups = ["g"] * 17  # one group: nothing can be held out
    with pytest.raises(ConfigError, match="no class with two groups"):
        hold_out_validation(data, 0.2)


def test_fold_set_clips_carry_their_source_to_validation(tmp_path):
    pytest.importorskip("soundfile")
    from tests.test_audio_fold_sets import RATE, _esc50
    from mmdistill.modalities.audio.adapter import AudioModality
    from mmdistill.modalities.audio.config import AudioDistillConfig
    from mmdistill.validation import load_data

    _esc50(tmp_path)
    cfg = AudioDistillConfig(dataset="esc50", data_root=str(tmp_path), sample_rate=RATE, duration=0.25, validation=0.25)
    data = load_data(AudioModality(), cfg)
    assert data.meta["validation"]["held_out_groups"] == 3  # one of each class's four training sources
    assert len(data.test) == 3 and len(data.train) == 9


def test_groups_of_another_length_are_refused_not_ignored():
    # review R1.1: hold_out_validation and keep_classes skipped groups whose count was not train's, so the split fell back
    # to single samples (a recording on both sides) without a word; the data refuses them where it is made
    from mmdistill.errors import DataError

    data = _data()
    with pytest.raises(DataError, match=r"dataset 'toy': train_groups names 16 group\(s\) for 17 training samples"):
        ClassificationData("toy", data.train, data.test, train_groups=[f"s{i}" for i in range(16)])
    ok = ClassificationData("toy", data.train, data.test, train_groups=[f"s{i // 2}" for i in range(17)])
    assert hold_out_validation(ok, 0.4).meta["validation"]["held_out_groups"] >= 1


def test_one_held_count_rule_for_classes_validation_and_groups():
    # review R1.2: the held-out count was written four times (held_out_flags, both validation branches, group_test_flags)
    from mmdistill.data import held_count

    assert [held_count(n, 0.2) for n in (0, 1, 2, 5, 10)] == [0, 0, 1, 1, 2]  # at least one of two or more
    assert [held_count(n, 0.9) for n in (2, 5)] == [1, 4]  # never the last training item (group)
    assert [held_count(n, 0.2, at_least_one=False) for n in (1, 2, 5, 10)] == [0, 0, 1, 2]  # the video rule


def test_whole_groups_that_empty_a_class_are_refused_naming_it():
    # review R1.3: the check shares its class sets with the group splits' (mmdistill.data.emptied_classes)
    from mmdistill.data import emptied_classes

    y = torch.tensor([0, 0, 1, 1, 2, 2])  # c's two clips lie in a group of a (g1) and one of b (g4), both drawn for them
    train = LabeledTensors(torch.zeros(6, 1, 1, 1), y, ["a", "b", "c"])
    test = LabeledTensors(torch.zeros(3, 1, 1, 1), torch.tensor([0, 1, 2]), ["a", "b", "c"])
    data = ClassificationData("toy", train, test, train_groups=["g1", "g2", "g3", "g4", "g1", "g4"])
    with pytest.raises(ConfigError, match=r"validation=0.5: holding out whole groups left class\(es\) 'c' of toy without a "
                                          r"training sample"):
        hold_out_validation(data, 0.5)
    assert emptied_classes(["a", "a", "b", "c"], [True, False, True, True]) == ["b", "c"]


def test_kept_classes_keep_their_samples_groups_in_order():
    # review R1.4: keep_classes filters the groups with the mask that picks the kept training samples (built once)
    from mmdistill.validation import keep_classes

    data = _data()
    data = ClassificationData("toy", data.train, data.test, train_groups=[f"s{i}" for i in range(17)])
    out = keep_classes(data, ["c", "a"])  # in the data's class order: a -> 0, c -> 1
    assert out.train.classes == ["a", "c"] and out.train.y.tolist() == [0] * 10 + [1] * 2
    assert out.train_groups == [f"s{i}" for i in range(10)] + ["s15", "s16"] and out.test.y.tolist() == [0, 1]


def test_a_set_saved_before_grouped_validation_is_scored_on_its_own_validation_split():
    """Walk 55O: an audio set of this morning (``group_by`` speakers, ``validation=0.2``: clips drawn one by one) was
    re-scored by ``eval`` on a split of whole speakers -- samples it was distilled from among them, and a warning that
    blamed the data ('distilled from other real training data than folder holds now'); its checkpoint could not be
    resumed at all. A saved config without ``validation_groups`` now runs with false: the split it was made with."""
    from types import SimpleNamespace

    from mmdistill.recipes import get_recipe
    from mmdistill.validation import load_data

    data = _data()
    data.train_groups = [f"spk{i % 4}" for i in range(17)]
    modality = SimpleNamespace(load=lambda cfg: data)
    recipe = get_recipe("audio-dm")
    saved = {"dataset": "folder", "data_root": "sounds", "group_by": r"spk(\d+)", "validation": 0.2, "ipc": 1}  # as 288ae17 wrote it
    old = load_data(modality, recipe.config_from_saved(saved, {}))
    by_sample = hold_out_validation(_data(), 0.2)
    assert torch.equal(old.test.x, by_sample.test.x) and "held_out_groups" not in old.meta["validation"]
    new = load_data(modality, recipe.config_from_saved({**saved, "validation_groups": True}, {}))
    assert new.meta["validation"]["held_out_groups"] == 1  # a run of tonight's code: whole speakers


def test_a_checkpoint_saved_before_validation_groups_without_validation_resumes_as_it_is():
    """Walk 55O: with ``validation_groups`` false for every earlier config, this morning's image-dm checkpoint (no
    validation) was refused on --resume ('validation_groups: False -> True'): a key that changes nothing there."""
    from mmdistill.schema import values_before_keys

    assert values_before_keys({"dataset": "digits", "ipc": 1}, {"validation_groups"}) == {"validation_groups": True}
    assert values_before_keys({"validation": 0.0}, {"validation_groups"}) == {"validation_groups": True}
    assert values_before_keys({"validation": 0.2}, {"validation_groups"}) == {"validation_groups": False}
    assert values_before_keys({"validation": 0.2, "validation_groups": True}, {"validation_groups"}) == {}


def test_an_image_folder_s_split_seed_is_another_validation_split_though_labels_and_indices_agree():
    """Mend 56K: an ImageFolder tree keeps its training images in class order, so split_seed 0 and 1 (other images held
    out for test, so other images in training) gave one validation digest: compare would take them for one split. The
    keys that drew the test split are folded in, unless the adapter records the split as given (train/ + test/; review
    56 R5.1: the record, not the load report's split_drawn fact, decides)."""
    from types import SimpleNamespace

    from mmdistill.recipes import get_recipe
    from mmdistill.validation import SPLIT_DRAWN_WITH, drawn_by, load_data

    def split(split_seed: int, drawn: bool) -> str:
        data = _data()
        data.meta[SPLIT_DRAWN_WITH] = drawn_by(0.2, split_seed) if drawn else None
        cfg = get_recipe("image-dm").config(dataset="imagefolder", data_root="pets", validation=0.2, split_seed=split_seed)
        return load_data(SimpleNamespace(load=lambda cfg: data), cfg).meta["validation"]["split"]

    assert split(0, True) != split(1, True) and split(0, True) == split(0, True)
    assert split(0, False) == split(1, False) == hold_out_validation(_data(), 0.2).meta["validation"]["split"]


def test_a_named_set_s_own_split_is_one_validation_split_whatever_split_seed_says():
    """Review 56 R1.2: the keys were folded in from the config whenever it had them, so cifar10 (its own test files:
    split_seed draws nothing) gave split_seed 0 and 1 two validation digests and compare lettered one split as two. The
    adapter records the keys that drew its split (meta split_drawn_with; None: given) and only those are folded in."""
    from types import SimpleNamespace

    from mmdistill.recipes import get_recipe
    from mmdistill.validation import SPLIT_DRAWN_WITH, load_data

    def split(split_seed: int, drawn: bool) -> str:
        data = _data()
        data.meta[SPLIT_DRAWN_WITH] = {"test_fraction": 0.2, "split_seed": split_seed} if drawn else None
        cfg = get_recipe("image-dm").config(dataset="cifar10", data_root="c", validation=0.2, split_seed=split_seed)
        return load_data(SimpleNamespace(load=lambda cfg: data), cfg).meta["validation"]["split"]

    assert split(0, False) == split(1, False) == hold_out_validation(_data(), 0.2).meta["validation"]["split"]
    assert split(0, True) != split(1, True)

