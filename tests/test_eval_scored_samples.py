"""mmdistill eval names a re-evaluation scored on another number of samples than the saved metrics (walk 44D D1:
a video set made before a split file's val rows were left out was re-scored on 5 test clips instead of 20, silently)."""

from mmdistill.saved_cli import _scored_on_other_samples


def test_other_test_count_is_named():
    saved = {"protocol": {"scored_on": "test", "test_samples": 20, "epochs": 5}}
    new = {"protocol": {"scored_on": "test", "test_samples": 5, "epochs": 5}}
    (line,) = _scored_on_other_samples(saved, new)
    assert "20 test samples" in line and "on 5" in line and "not comparable" in line


def test_same_count_old_manifest_without_protocol_and_other_split_say_nothing():
    same = {"protocol": {"test_samples": 20}}
    assert _scored_on_other_samples(same, same) == []
    assert _scored_on_other_samples({"distilled": {"mean": 0.5}}, same) == []
    assert _scored_on_other_samples(None, same) == []
    assert _scored_on_other_samples({"protocol": {"validation_samples": 142}}, same) == []


def test_eval_of_a_set_scored_on_another_count_says_so(tmp_path, capsys):
    """End to end: a saved set whose manifest records scores on 999 test samples, re-scored on the digits test split."""
    import json
    import shutil

    from mmdistill.cli import main
    from test_share import make_set  # noqa: E402  (a tiny saved image set)

    out = tmp_path / "run"
    shutil.copytree(make_set("image", tmp_path / "sets"), out)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["metrics"] = {"protocol": {"scored_on": "test", "test_samples": 999}}
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["eval", str(out), "--runs", "1", "--epochs", "1", "--no-baselines"]) == 0
    assert "the saved scores were computed on 999 test samples, this evaluation on 360 " in capsys.readouterr().err


def test_every_evaluation_plan_says_its_scored_split_with_the_one_core_helper():
    """The ``scored_on`` / ``{split}_samples`` protocol entries (what the card, show and compare read) are built once,
    in the core (mend 56K item 2): the classification plan and the audio-visual adapter's call it."""
    from pathlib import Path

    import mmdistill.classification as core
    import mmdistill.modalities.audio_visual.evaluate as av
    from mmdistill.scored_on import scored_protocol

    assert scored_protocol({"scored_on": "validation"}, 142) == {"scored_on": "validation", "validation_samples": 142}
    assert scored_protocol({}, 360) == {"scored_on": "test", "test_samples": 360}
    for module in (core, av):
        text = Path(module.__file__).read_text(encoding="utf-8")
        assert "scored_protocol(data.meta, len(data.test))" in text and '_samples": len(' not in text, module.__name__


def test_a_rescoring_on_another_validation_split_of_the_same_size_is_named():
    """Mend 56K: a set tuned with validation=0.2 re-scored after its data changed holds out as many samples, other ones
    (the draw's digest differs): said, as another count is; the card still reads the two protocols as one (it describes
    the scored data, not the training)."""
    from mmdistill.card import _protocol

    saved = {"protocol": {"scored_on": "validation", "validation_samples": 287, "validation_split": "aaaa", "epochs": 5}}
    new = {"protocol": {"scored_on": "validation", "validation_samples": 287, "validation_split": "bbbb", "epochs": 5}}
    (line,) = _scored_on_other_samples(saved, new)
    assert "another validation split" in line and "not comparable" in line
    assert _scored_on_other_samples(saved, saved) == []
    older = {"protocol": {"scored_on": "validation", "validation_samples": 287, "epochs": 5}}  # saved before the digest
    assert _scored_on_other_samples(older, new) == [] and _protocol(older["protocol"], new["protocol"]) == _protocol(new["protocol"], older["protocol"])
