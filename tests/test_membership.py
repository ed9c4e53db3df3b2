"""The membership-inference check (mmdistill.membership, mmdistill check DIR --membership): the attacks' arithmetic on
known scores, the members / non-members / reference pool it draws, and the command on tiny generated sets."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from mmdistill.errors import ConfigError, DataError
from mmdistill.membership import MODELS, draw_candidates
from mmdistill.membership_attacks import (auc, fpr_key, lira_offline_scores, roc_curve, summary, too_few_note, tpr_at_fpr,
                                          true_class_signals)
from mmdistill.seeding import generator



def test_auc_of_separable_scores_is_one_of_identical_ones_a_half_and_of_reversed_ones_zero():
    members, non = torch.tensor([3.0, 4.0, 5.0]), torch.tensor([0.0, 1.0, 2.0])
    assert auc(members, non) == 1.0
    assert auc(non, members) == 0.0
    assert auc(torch.ones(5), torch.ones(7)) == 0.5  # ties count half: one threshold takes them all
    fpr, tpr = roc_curve(torch.ones(5), torch.ones(7))
    assert fpr.tolist() == [0.0, 1.0] and tpr.tolist() == [0.0, 1.0]


def test_tpr_at_fpr_on_a_known_case_and_too_few_non_members_for_a_lower_rate():
    non = torch.arange(100, dtype=torch.float64) / 100  # 0.00 ... 0.99
    members = torch.cat([torch.full((50,), 2.0), torch.full((10,), 0.985), torch.full((40,), -1.0)])
    # score >= 2.0: TPR 0.5 at FPR 0; >= 0.985: TPR 0.6 with one false positive (0.99): FPR 1 %; >= 0.98: FPR 2 %
    assert tpr_at_fpr(members, non, 0.01) == pytest.approx(0.6)
    assert tpr_at_fpr(members, non, 0.001) is None  # 100 non-members cannot show an FPR below 1 %
    assert "TPR at 0.1% FPR not measured: 100 non-members" in too_few_note(100) and too_few_note(1000) == ""
    assert too_few_note(20).endswith("(needed: 100 for 1%, 1000 for 0.1%)")
    many = torch.arange(1000, dtype=torch.float64) / 1000
    assert tpr_at_fpr(torch.tensor([5.0, 0.9995, -1.0, -1.0]), many, 0.001) == pytest.approx(0.5)
    s = summary(members, non)
    assert set(s) == {"auc", fpr_key(0.01), fpr_key(0.001)} and s[fpr_key(0.001)] is None
    assert fpr_key(0.01) == "tpr_at_1%_fpr" and fpr_key(0.001) == "tpr_at_0.1%_fpr"


def test_signals_are_the_cross_entropy_and_a_finite_logit_scaled_confidence():
    logits = torch.tensor([[2.0, 0.5, -1.0], [300.0, 0.0, 0.0]])
    labels = torch.tensor([1, 0])
    loss, phi = true_class_signals(logits, labels)
    assert torch.allclose(loss, F.cross_entropy(logits.double(), labels, reduction="none"))
    p = torch.softmax(logits[0].double(), 0)[1]
    assert phi[0].item() == pytest.approx(math.log(p / (1 - p)))
    assert math.isfinite(phi[1].item()) and phi[1].item() == pytest.approx(300 - math.log(2))  # 1 - p_y rounds to 0 in float


def test_offline_lira_calibrates_what_makes_a_sample_easy():
    """Per-sample difficulty spreads phi far more than membership shifts it: phi alone barely tells members apart, phi
    minus the reference models' mean for that sample does."""
    gen = torch.Generator().manual_seed(0)
    difficulty = 10 * torch.randn(400, generator=gen, dtype=torch.float64)
    member = torch.arange(400) < 200
    target = difficulty + member.double() * 1.0 + 0.1 * torch.randn(400, generator=gen, dtype=torch.float64)
    refs = difficulty + 0.1 * torch.randn(2, 400, generator=gen, dtype=torch.float64)
    assert auc(target[member], target[~member]) < 0.6
    scores = lira_offline_scores(target, refs)
    assert auc(scores[member], scores[~member]) > 0.99
    one = lira_offline_scores(target, refs[:1])  # one reference model: the ranking of phi - its phi
    assert torch.equal(torch.argsort(one), torch.argsort(target - refs[0]))
    with pytest.raises(ValueError, match=r"reference_phi must be \(K >= 1, 400\)"):
        lira_offline_scores(target, refs[:, :10])


def test_members_non_members_and_reference_pool_are_drawn_apart():
    c = draw_candidates(100, 30, 1000, generator(0, "x"))
    assert len(c.members) == len(c.non_members) == 30  # capped by the test split
    assert set(c.members.tolist()).isdisjoint(c.reference_pool.tolist())
    assert sorted(c.members.tolist() + c.reference_pool.tolist()) == list(range(100))  # every training sample, once
    assert max(c.non_members.tolist()) < 30
    assert len(draw_candidates(40, 1000, 1000, generator(0, "x")).members) == 20  # half the training split is kept back
    again = draw_candidates(100, 30, 1000, generator(0, "x"))
    assert torch.equal(again.members, c.members) and torch.equal(again.non_members, c.non_members)
    with pytest.raises(DataError, match="3 training and 100 test samples leave 1 member"):
        draw_candidates(3, 100, 10, generator(0, "x"))
    with pytest.raises(ConfigError, match="members=1"):
        draw_candidates(100, 100, 1, generator(0, "x"))


def _tiny(n_train: int = 60, n_test: int = 40):
    """Image-dm's config, a tiny ClassificationData of 1x8x8 samples in 3 classes and a set initialised from it."""
    from mmdistill.data import ClassificationData, LabeledTensors
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import image_dm

    gen = torch.Generator().manual_seed(0)
    def part(n):
        y = torch.arange(n) % 3
        return LabeledTensors(torch.randn(n, 1, 8, 8, generator=gen) + y[:, None, None, None].float(), y, ["a", "b", "c"])
    data = ClassificationData("tiny", part(n_train), part(n_test), meta={"mean": [0.0], "std": [1.0], "classes": ["a", "b", "c"]})
    cfg = image_dm.RECIPE.config(dataset="digits", ipc=2, eval_epochs=2, eval_batch=32, progress=False)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    return cfg, data, syn, MODALITY


def test_membership_check_trains_every_kind_and_keeps_the_members_apart():
    from mmdistill.membership import membership_check

    cfg, data, syn, modality = _tiny()
    said = []
    result = membership_check(cfg, syn, data, modality, device=torch.device("cpu"), runs=2, references=1, members=15, say=said.append)
    assert list(result.models) == list(MODELS) and result.protocol["members"] == result.protocol["non_members"] == 15
    assert result.protocol["reference_pool"] == 45 and result.protocol["set_size"] == 6
    assert [result.models[m]["trained_on"] for m in MODELS] == [6, 6, 60]  # the set, a real subset of its size, the split
    auc_runs = result.models["whole"]["loss"]["auc"]["runs"]
    assert len(auc_runs) == 2 and all(0 <= a <= 1 for a in auc_runs)
    assert result.models["distilled"]["lira_offline"]["tpr_at_0.1%_fpr"] is None  # 15 non-members: not measurable
    assert len(result.roc["fpr"]) == len(result.roc["distilled"]["loss"]) and result.roc["fpr"][-1] == pytest.approx(1.0)
    assert any("run 2/2, whole: trained on 60 samples" in line for line in said)
    assert "n/a (too few)" in result.table()
    again = membership_check(cfg, syn, data, modality, device=torch.device("cpu"), runs=2, references=1, members=15, say=said.append)
    assert again.models == result.models  # seeded
    with pytest.raises(ConfigError, match="references=0"):
        membership_check(cfg, syn, data, modality, device=torch.device("cpu"), references=0)


def _saved(monkeypatch, modality, syn, data, cfg, tmp_path):
    """``mmdistill check DIR`` loading ``syn`` of ``modality`` from ``tmp_path / "set"`` and ``data`` as its real data."""
    import mmdistill.saved_cli as saved_cli

    folder = tmp_path / "set"
    folder.mkdir()
    manifest = {"recipe": "image-dm", "config": {}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(saved_cli, "load_saved", lambda d: (syn, manifest, type("R", (), {"name": "image-dm"})(), modality))
    monkeypatch.setattr(saved_cli, "saved_real_data", lambda *a: (cfg, data))
    monkeypatch.setattr("mmdistill.share.check_fits_data", lambda *a: None)
    return folder


def test_check_membership_writes_its_record_and_picture(tmp_path, monkeypatch, capsys):
    from mmdistill.cli import main

    cfg, data, syn, modality = _tiny()
    folder = _saved(monkeypatch, modality, syn, data, cfg, tmp_path)
    code = main(["check", str(folder), "--membership", "--runs", "2", "--references", "1", "--epochs", "1", "--members", "12"])
    out = capsys.readouterr().out
    assert code == 0, out
    record = json.loads((folder / "membership.json").read_text())
    assert list(record["models"]) == list(MODELS) and record["set"] == {"recipe": "image-dm"}
    assert record["protocol"]["members"] == 12 and record["protocol"]["runs"] == 2 and record["protocol"]["epochs"] == 1
    assert record["models"]["distilled"]["loss"]["tpr_at_0.1%_fpr"] is None and "not measured" in record["protocol"]["note"]
    assert (folder / "membership.png").stat().st_size > 0
    assert "lira_offline" in out and "run 2/2, whole" in out and f"wrote {folder / 'membership.json'}" in out
    (folder / "membership.json").unlink()
    assert main(["check", str(folder), "--membership", "--runs", "1", "--references", "1", "--epochs", "1", "--members", "4",
                 "--no-write"]) == 0
    assert not (folder / "membership.json").exists()
    assert main(["check", str(folder), "--membership", "--epochs", "0", "--no-write"]) == 2
    assert "--epochs 0: every model trains at least 1 epoch" in capsys.readouterr().err


def test_check_membership_refuses_a_set_that_is_not_classification(tmp_path, monkeypatch, capsys):
    from mmdistill.cli import main
    from mmdistill.modality import get_modality

    cfg, data, syn, _ = _tiny()
    folder = _saved(monkeypatch, get_modality("graph"), syn, data, cfg, tmp_path)
    assert main(["check", str(folder), "--membership"]) == 2
    err = capsys.readouterr().err
    assert f"{folder} holds a graph set, not a classification set" in err and "without --membership" in err
    assert not (folder / "membership.json").exists()


def test_check_refuses_membership_flags_without_membership(tmp_path, capsys):
    """``mmdistill check DIR --runs 5`` ran the memorisation check and ignored --runs; it is refused, naming the flags."""
    from mmdistill.cli import main

    assert main(["check", str(tmp_path / "no-set"), "--runs", "5", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert "--runs, --epochs apply to the membership check only; add --membership" in err


def test_membership_refuses_a_set_whose_learned_step_size_is_not_positive_as_evaluation_does():
    """membership.py copied classification_plan's learned step-size rule (review 56 R6.2) but, for a set whose syn_lr
    is <= 0, trained its distilled models with eval_lr and recorded that as the set's lr; both now take the one rule
    (classification.set_protocol), which names eval_lr_from_set before any model is trained."""
    import dataclasses

    from mmdistill.classification import evaluation_protocol, set_protocol
    from mmdistill.membership import membership_check
    from mmdistill.recipes import image_mtt

    _, data, syn, modality = _tiny()
    cfg = image_mtt.RECIPE.config(dataset="digits", ipc=2, eval_epochs=1, eval_batch=32, progress=False)
    assert cfg.learned_lr_evaluation()
    said = []
    for bad in (0.0, -0.01, float("nan")):
        bad_set = dataclasses.replace(syn, data={**syn.data, "syn_lr": torch.tensor(bad)})
        with pytest.raises(ConfigError, match="learned step size is .*eval_lr_from_set=false") as err:
            membership_check(cfg, bad_set, data, modality, device=torch.device("cpu"), runs=1, references=1, members=5,
                             say=said.append)
        assert err.value.key == "eval_lr_from_set"
    assert not any("trained on" in line for line in said)
    good = dataclasses.replace(syn, data={**syn.data, "syn_lr": torch.tensor(0.02)})
    assert set_protocol(cfg, good, evaluation_protocol(cfg)).lr == pytest.approx(0.02)


def test_check_membership_refuses_epochs_below_one_before_loading_or_locking_the_set(tmp_path, capsys):
    """``--epochs 0`` was refused only after the set was loaded and its folder locked and probed (review 56 R6.4): a
    folder with no set answered that instead; the flags are now checked before anything is read."""
    from mmdistill.cli import main

    assert main(["check", str(tmp_path / "no-set"), "--membership", "--epochs", "0"]) == 2
    err = capsys.readouterr().err
    assert "--epochs 0: every model trains at least 1 epoch" in err and "no-set" not in err
    assert not (tmp_path / "no-set").exists()
