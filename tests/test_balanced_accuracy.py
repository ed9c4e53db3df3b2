"""Balanced accuracy beside plain accuracy on an imbalanced scored split (left noted since walk 51A: the card said the
accuracy was plain and what answering the most common class scores, but gave no per-class figure to read instead)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from mmdistill.data import LabeledTensors
from mmdistill.evaluation import results_table
from mmdistill.training import accuracy_on, scores_on


class _Always(nn.Module):
    """Answers class ``k`` for every sample."""

    def __init__(self, k: int, classes: int) -> None:
        super().__init__()
        self.k, self.classes = k, classes
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(torch.full((len(x),), self.k), self.classes).float() + 0 * self.dummy


def test_a_network_answering_the_common_class_scores_its_share_plain_and_one_over_k_balanced():
    test = LabeledTensors(torch.zeros(10, 2), torch.tensor([0] * 8 + [1] + [2]), ["a", "b", "c"])
    net = _Always(0, 3)
    assert scores_on(net, test) == {"accuracy": 0.8}
    scores = scores_on(net, test, balanced=True, batch_size=3)  # batches put together
    assert scores["accuracy"] == pytest.approx(0.8) and scores["balanced_accuracy"] == pytest.approx(1 / 3)
    assert accuracy_on(net, test) == pytest.approx(0.8)
    missing = LabeledTensors(torch.zeros(4, 2), torch.tensor([0, 0, 0, 2]), ["a", "b", "c"])  # class b not in the split
    assert scores_on(_Always(2, 3), missing, balanced=True)["balanced_accuracy"] == pytest.approx(0.5)


def test_an_imbalanced_test_split_is_scored_balanced_too_and_a_balanced_one_is_not():
    from mmdistill.classification import classification_plan
    from mmdistill.evaluation import evaluate_network
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes import image_dm

    cfg = image_dm.RECIPE.config(dataset="digits", ipc=1, eval_runs=1, eval_epochs=1, baselines=["random_real"],
                                 eval_networks=["mlp"], progress=False, memory_check=False)
    data = MODALITY.load(cfg)
    plan = classification_plan(cfg, None, data, MODALITY, device=torch.device("cpu"))
    rows = evaluate_network(plan, plan.networks[0])
    assert rows["random_real"].metrics == ["accuracy"] and "balanced" not in (plan.title or "")
    y = data.test.y
    keep = torch.cat([torch.nonzero(y == 0).flatten(), torch.nonzero(y != 0).flatten()[::20]])
    skewed = dataclasses.replace(data, test=LabeledTensors(data.test.x[keep], y[keep], data.test.classes))
    plan = classification_plan(cfg, None, skewed, MODALITY, device=torch.device("cpu"))
    rows = evaluate_network(plan, plan.networks[0])
    assert rows["random_real"].metrics == ["accuracy", "balanced_accuracy"]
    assert "balanced_accuracy: the mean over classes" in (plan.title or "") and plan.protocol["scored_classes"] == int((torch.bincount(y[keep]) > 0).sum()) < 10
    table = results_table(rows).splitlines()
    assert "balanced_accuracy" in table[0] and len(table[0]) == len(table[1])  # the wide column's cells line up
    assert "size" not in table[0]  # no column left empty (walk 52O)


def test_the_card_points_to_the_balanced_accuracy_when_the_run_scored_it():
    from mmdistill.scored_on import imbalance_line

    proto = {"runs": 2, "scored_on": "test", "majority_share": 0.5}
    plain = {"metric": "accuracy", "protocol": proto, "distilled": {"mean": 0.6, "std": 0.0, "runs": [0.6, 0.6]}}
    both = {**plain, "distilled": {**plain["distilled"], "scores": {"accuracy": {"mean": 0.6},
                                                                    "balanced_accuracy": {"mean": 0.4, "std": 0.01, "runs": [0.39, 0.41]}}},
            "popularity": {"mean": 0.2, "std": 0.0, "runs": [0.2], "scores": {"balanced_accuracy": {"mean": 0.25, "std": 0.0, "runs": [0.25]}}}}
    assert "balanced accuracy" not in (imbalance_line(plain, 4) or "")
    line = imbalance_line(both, 4) or ""
    assert "the balanced accuracy (the mean over classes of each class's share answered right) scores 25.0 %" in line
    assert line.endswith(": distilled 40.00 ± 1.00 %, popularity 25.00 %")  # each set's number, show's line too (walk 52O)


def test_a_graph_with_an_imbalanced_test_split_is_scored_balanced_too():
    """The graph plan (node classification: Cora's test split is imbalanced) scores balanced accuracy beside plain
    accuracy there, as the classification plan does; a balanced split keeps the one metric."""
    pytest.importorskip("torch_geometric")
    from mmdistill.modalities.graph.datasets import load_graph_dataset
    from mmdistill.modalities.graph.evaluate import graph_plan
    from mmdistill.recipes.graph_dm import Config

    cfg = Config(dataset="sbm:90:3:8", ipc=1, eval_runs=1, eval_epochs=2, progress=False, baselines=["random_real"])
    data = load_graph_dataset("sbm:90:3:8", None)
    data.y[data.test_idx] = torch.arange(data.test_idx.numel()) % 3
    plan = graph_plan(cfg, None, data, torch.device("cpu"))
    network = plan.networks[0]
    assert set(network.train_and_score(network.sets["random_real"].for_run(0), torch.Generator().manual_seed(0))) == {"accuracy"}
    data.y[data.test_idx[: int(0.8 * data.test_idx.numel())]] = 0  # four in five test nodes of class 0
    plan = graph_plan(cfg, None, data, torch.device("cpu"))
    network = plan.networks[0]
    scores = network.train_and_score(network.sets["random_real"].for_run(0), torch.Generator().manual_seed(0))
    assert set(scores) == {"accuracy", "balanced_accuracy"} and 0 <= scores["balanced_accuracy"] <= 1
    assert plan.protocol["scored_classes"] == 3
    assert "balanced_accuracy: the mean over classes" in (plan.title or "")


def test_the_cards_floor_for_balanced_accuracy_counts_the_classes_the_split_holds():
    """Walk 52G: the card said always answering one class scores 1/K balanced accuracy; with a class absent from the
    split it scores 1/(classes present). The protocol records scored_classes on an imbalanced split."""
    from mmdistill.card import _protocol
    from mmdistill.scored_on import imbalance_line

    proto = {"runs": 2, "scored_on": "test", "majority_share": 0.6, "scored_classes": 2}
    metrics = {"metric": "accuracy", "protocol": proto,
               "distilled": {"mean": 0.6, "std": 0.0, "runs": [0.6, 0.6], "scores": {"accuracy": {}, "balanced_accuracy": {}}}}
    assert "scores 50.0 % for that network" in (imbalance_line(metrics, 4) or "")
    assert _protocol(proto) == _protocol({k: v for k, v in proto.items() if k != "scored_classes"})


def test_the_readme_evaluation_section_says_when_balanced_accuracy_is_scored():
    """A reader looking for the balanced accuracy finds it in *Evaluation, honestly* with the threshold it is scored
    at (it was said only inside the files table's accuracy.png cell, as if every set always had it)."""
    from pathlib import Path

    from mmdistill.scored_on import IMBALANCED

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Evaluation, honestly", 1)[1].split("\n## ", 1)[0]
    assert "balanced_accuracy" in section and "majority_share" in section
    assert f"{round(100 * IMBALANCED)} points more than 1 / classes" in section
