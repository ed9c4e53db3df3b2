"""Graph adapter: loaders and their errors, GCond's budget, the adjacency generator, the networks on sparse
and dense graphs, the GCond schedule, and end-to-end runs on tiny generated graphs (never ../shared)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")

from mmdistill.cli import main as cli_main  # noqa: E402
from mmdistill.errors import ConfigError, DataError  # noqa: E402
from mmdistill.io import load_synthetic  # noqa: E402
from mmdistill.load_report import LoadReport  # noqa: E402
from mmdistill.modalities.graph import MODALITY, load_condensed  # noqa: E402
from mmdistill.modalities.graph.budget import resolve_budget  # noqa: E402
from mmdistill.modalities.graph.data import Graph  # noqa: E402
from mmdistill.modalities.graph.datasets import GraphLoadOptions, build_data, load_graph_dataset, make_sbm  # noqa: E402
from mmdistill.modalities.graph.export import save_graph_data  # noqa: E402
from mmdistill.modalities.graph.matching import synthetic_graph  # noqa: E402
from mmdistill.modalities.graph.nets import CROSS_ARCH, build_graph_network, reinitialize_graph_net  # noqa: E402
from mmdistill.modalities.graph.pge import generate_adjacency, init_pge, pge_weights  # noqa: E402
from mmdistill.context import MatchContext  # noqa: E402
from mmdistill.recipes import graph_dm, graph_gcond, graph_gcond_x  # noqa: E402
from mmdistill.recipes._graph import make_gcond_matcher, make_graph_optimizer  # noqa: E402
from mmdistill.seeding import generator  # noqa: E402

TINY = "sbm:90:3:8"
FAST = dict(dataset=TINY, ipc=3, iterations=4, outer_loop=2, inner_loop=2, structure_period=2, structure_steps=1,
            eval_runs=1, eval_epochs=15, checkpoint_every=2, progress=False, hidden=16, pge_hidden=8)


def _raw(**over):
    raw = make_sbm(90, 3, 5, seed=1)
    raw.update(over)
    return raw


# ------------------------------------------------------------------------------------------------ budget
def test_reduction_rates_give_gconds_cora_budgets():
    counts = [20] * 7
    for rate, total in ((0.013, 35), (0.026, 70), (0.052, 140)):
        b = resolve_budget(counts, 2708, reduction_rate=rate)
        assert b.total == total and set(b.per_class) == {total // 7}
    assert resolve_budget(counts, 2708, label_rate=0.5).total == 70
    assert resolve_budget(counts, 2708, nodes_per_class=4).per_class == (4,) * 7


def test_budget_follows_training_class_proportions():
    # GCond's generate_labels_syn: every class but the largest gets max(int(n_c * r), 1), the largest the rest
    b = resolve_budget([10, 30, 60, 1], 1000, label_rate=0.5)
    assert b.per_class == (5, 15, 29, 1) and b.total == 50


def test_budget_below_the_number_of_classes_is_named():
    with pytest.raises(ConfigError, match=r"7 classes.*reduction_rate >= 0\.0026"):
        resolve_budget([20] * 7, 2708, reduction_rate=0.001)


# ------------------------------------------------------------------------------------------------ data
def test_missing_masks_are_named_with_the_fix():
    raw = _raw()
    del raw["val_mask"]
    with pytest.raises(DataError, match="no val_mask.*split=random"):
        build_data(raw, "custom", GraphLoadOptions())
    data = build_data(raw, "custom", GraphLoadOptions(split="random"))
    assert data.train_idx.numel() + data.val_idx.numel() + data.test_idx.numel() == 90
    assert set(data.y[data.train_idx].tolist()) == {0, 1, 2}


def test_class_absent_from_training_nodes_is_named():
    raw = _raw()
    raw["train_mask"] = raw["train_mask"] & (raw["y"] != 2)
    with pytest.raises(DataError, match=r"class\(es\) \[2\] have no training node"):
        build_data(raw, "custom", GraphLoadOptions())


def test_non_symmetric_and_out_of_range_edges_are_named():
    raw = _raw(edge_index=torch.tensor([[0, 1, 2], [1, 0, 3]]))
    with pytest.raises(DataError, match=r"not symmetric: 1 edges.*2 -> 3.*symmetrize=true"):
        build_data(raw, "custom", GraphLoadOptions())
    data = build_data(raw, "custom", GraphLoadOptions(symmetrize=True))
    assert data.graph.num_edges == 4
    with pytest.raises(DataError, match=r"outside 0\.\.89"):
        build_data(_raw(edge_index=torch.tensor([[0, 95], [95, 0]])), "custom", GraphLoadOptions())


def test_undirected_edge_count_counts_each_self_loop_once():
    # 0-1, 1-2 both ways, self-loops on 0 and 3 (listed once each, as their own reverse): 2 + 2 undirected edges
    raw = _raw(edge_index=torch.tensor([[0, 1, 1, 2, 0, 3], [1, 0, 2, 1, 0, 3]]))
    data = build_data(raw, "custom", GraphLoadOptions(symmetrize=True))
    assert data.graph.num_edges == 6 and data.graph.num_undirected_edges == 4
    assert "4 undirected edges" in data.describe()
    dense = Graph(torch.zeros(3, 2), adj=torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert dense.num_undirected_edges == 1  # a dense graph's diagonal is no edge


def test_edge_list_files_and_saved_graph_load(tmp_path):
    raw = make_sbm(90, 3, 5, seed=2)
    files = tmp_path / "files"
    files.mkdir()
    np.savetxt(files / "edges.csv", raw["edge_index"].t().numpy(), fmt="%d", delimiter=",")
    np.save(files / "features.npy", raw["x"].numpy())
    np.savetxt(files / "labels.txt", raw["y"].numpy(), fmt="%d")
    for split in ("train", "val", "test"):
        np.savetxt(files / f"{split}.txt", raw[f"{split}_mask"].nonzero().reshape(-1).numpy(), fmt="%d")
    a = load_graph_dataset("files", str(files))
    assert torch.allclose(a.graph.x, raw["x"]) and torch.equal(a.y, raw["y"]) and a.train_idx.numel() == 60
    assert a.meta["source"] == "local folder files"  # the folder's name, not the machine's path
    save_graph_data(tmp_path / "saved", x=raw["x"], edge_index=raw["edge_index"], y=raw["y"],
                    masks={s: raw[f"{s}_mask"] for s in ("train", "val", "test")})
    b = load_graph_dataset("saved", str(tmp_path / "saved"))
    assert torch.equal(b.graph.edge_index, raw["edge_index"]) and torch.equal(b.test_idx, a.test_idx)
    (tmp_path / "bad").mkdir()
    with pytest.raises(DataError, match="no edges"):
        load_graph_dataset("files", str(tmp_path / "bad"))


def test_save_graph_data_takes_float_ids_only_when_whole_and_refuses_one_class(tmp_path):
    """Walk 39B D2/D6: ``save_graph_data`` truncated labels 0.7 -> 0 (and edge ids 0.9 -> 0) and the run went on with
    them; a NaN label was a traceback; a graph of one class ran into batch norm over one synthetic node."""
    raw = make_sbm(90, 3, 5, seed=2)
    with pytest.raises(DataError, match=r"y must hold integer ids, got 90 non-integer value\(s\) \(first: 0\.7"):
        save_graph_data(tmp_path / "a", x=raw["x"], edge_index=raw["edge_index"], y=raw["y"].float() + 0.7)
    with pytest.raises(DataError, match=r"y must hold integer ids, got 1 non-integer value\(s\) \(first: nan\)"):
        save_graph_data(tmp_path / "a", x=raw["x"], edge_index=raw["edge_index"], y=torch.cat([torch.tensor([float("nan")]), raw["y"][1:].float()]))
    with pytest.raises(DataError, match=r"edge_index must hold integer ids, got \d+ non-integer value\(s\) \(first: \d+\.9\)"):
        save_graph_data(tmp_path / "a", x=raw["x"], edge_index=raw["edge_index"].float() + 0.9, y=raw["y"])
    assert not (tmp_path / "a").exists()
    whole = save_graph_data(tmp_path / "b", x=raw["x"], edge_index=raw["edge_index"].double(), y=raw["y"].float(),
                            masks={s: raw[f"{s}_mask"] for s in ("train", "val", "test")})
    assert torch.equal(load_graph_dataset("saved", str(whole)).y, raw["y"])  # whole numbers as floats are read exactly
    one = save_graph_data(tmp_path / "c", x=raw["x"], edge_index=raw["edge_index"], y=torch.zeros_like(raw["y"]),
                          masks={s: raw[f"{s}_mask"] for s in ("train", "val", "test")})
    with pytest.raises(DataError, match=r"graph .* holds only the class '0'; classification needs at least 2 classes"):
        load_graph_dataset("saved", str(one))


def test_row_normalisation_of_negative_features_is_warned(caplog):
    """Walk 39B: ``normalize_features=row`` on features with negative values (row sums near 0) was silent."""
    from mmdistill.modalities.graph.datasets import normalize_features

    with caplog.at_level("WARNING"):
        normalize_features(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "row", torch.arange(2))
    assert "negative" not in caplog.text
    with caplog.at_level("WARNING"):
        normalize_features(torch.tensor([[1.0, -2.0], [3.0, 4.0], [-1.0, 0.0]]), "row", torch.arange(3))
    assert "2 nodes of 3 hold negative values; standard suits such features" in caplog.text


def test_pyg_dataset_class_without_masks():
    with pytest.raises(DataError, match="no val_mask"):
        load_graph_dataset("pyg:KarateClub", None)
    data = load_graph_dataset("pyg:KarateClub", None, GraphLoadOptions(split="random"))
    assert data.num_nodes == 34 and data.num_classes == 4


def test_planetoid_offline_without_files_is_named(tmp_path):
    with pytest.raises(DataError, match="lacks ind.cora.x.*--download"):
        load_graph_dataset("cora", str(tmp_path))


@pytest.fixture
def graph_logs(caplog, monkeypatch):
    """caplog that sees the package's records even after a CLI run made the ``mmdistill`` logger local."""
    import logging

    monkeypatch.setattr(logging.getLogger("mmdistill"), "propagate", True)
    caplog.set_level(logging.INFO)
    return caplog


def _files(root, raw=None, **text):
    """A ``dataset=files`` folder of ``raw`` (an sbm raw dict); ``text`` replaces whole files by name."""
    raw = raw or make_sbm(90, 3, 5, seed=2)
    root.mkdir(parents=True)
    np.savetxt(root / "edges.csv", raw["edge_index"].t().numpy(), fmt="%d", delimiter=",")
    np.save(root / "features.npy", raw["x"].numpy())
    np.savetxt(root / "labels.txt", raw["y"].numpy(), fmt="%d")
    for split in ("train", "val", "test"):
        np.savetxt(root / f"{split}.txt", raw[f"{split}_mask"].nonzero().reshape(-1).numpy(), fmt="%d")
    for name, content in text.items():
        (root / name.replace("_", ".")).write_text(content)
    return root


def test_repeated_and_one_way_edges_are_named_and_self_loops_counted(graph_logs):
    ring = [[0, 1], [1, 0], [1, 2], [2, 1]]
    # u -> v listed twice but v -> u once: a named DataError (was an IndexError)
    raw = _raw(edge_index=torch.tensor(ring + [[0, 1]]).t())
    with pytest.raises(DataError, match=r"not symmetric: 1 edges are listed more often than their reverse \(e\.g\. 0 -> 1 "
                                        r"listed 2 times but 1 -> 0 1 times\).*symmetrize=true"):
        build_data(raw, "custom", GraphLoadOptions())
    # kept as given, and counted in the log
    data = build_data(_raw(edge_index=torch.tensor(ring + [[0, 1], [1, 0], [3, 3]]).t()), "custom", GraphLoadOptions())
    assert data.graph.edge_index.shape[1] == 7
    assert "1 self-loop(s) and 2 repeated edge(s) kept as given" in graph_logs.text
    graph_logs.clear()
    data = build_data(raw, "custom", GraphLoadOptions(symmetrize=True))
    assert data.graph.edge_index.shape[1] == 4 and "1 repeated edges merged" in graph_logs.text


def test_self_loops_and_repeated_edges_are_counted_in_the_load_report(tmp_path):
    """What the edge check counts (before: only in a log line) is the set's load_report, so the card states it."""
    from mmdistill.card import loading_counts
    from mmdistill.modalities.graph import MODALITY

    raw = make_sbm(90, 3, 5, seed=2)
    twice = raw["edge_index"][:, :2]
    doubled = torch.cat([raw["edge_index"], twice, twice.flip(0), torch.tensor([[5, 7], [5, 7]])], dim=1)  # 4 repeats
    root = _files(tmp_path / "g", {**raw, "edge_index": doubled})  # and 2 self-loops
    data = load_graph_dataset("files", str(root))
    rep = data.meta["load_report"]
    assert rep["root"] == "g" and rep["counts"] == {"self_loops_kept": 2, "repeated_edges_kept": 4, "repeated_edges_merged": 0,
                                                    "unlabelled_nodes": 0}
    merged = load_graph_dataset("files", str(root), GraphLoadOptions(symmetrize=True)).meta["load_report"]["counts"]
    assert merged == {"self_loops_kept": 2, "repeated_edges_kept": 0, "repeated_edges_merged": 4, "unlabelled_nodes": 0}
    cfg = graph_gcond.RECIPE.config(dataset="files", data_root=str(root), ipc=1)
    syn = MODALITY.init_synthetic(data, cfg, generator(0))
    assert loading_counts({"synthetic": {"meta": syn.meta}}) == "self loops kept 2, repeated edges kept 4"
    assert "load_report" not in load_graph_dataset("sbm", None).meta  # generated: nothing was read


def test_nodes_without_a_label_stay_in_the_graph_in_no_split(tmp_path, graph_logs):
    """Walk 52C: a graph whose unlabelled nodes are -1 (PyG's convention; 10 % of a user's papers) was refused ("labels
    must be class ids >= 0"), so the user dropped those nodes and their edges; they are kept, counted and said, and a
    split that names one is refused naming the split."""
    raw = make_sbm(90, 3, 5, seed=2)
    y = raw["y"].clone()
    outside = torch.arange(90)[raw["test_mask"]][:7]
    y[outside] = -1
    masks = {"test_mask": raw["test_mask"] & (y >= 0)}
    data = build_data({**raw, **masks, "y": y, "load_report": LoadReport()}, "custom", GraphLoadOptions())
    assert data.num_nodes == 90 and data.graph.num_edges == raw["edge_index"].shape[1]
    assert data.meta["load_report"]["counts"]["unlabelled_nodes"] == 7
    assert "7 nodes without a label (in no split)" in data.describe()
    assert "7 nodes without a label (-1) kept in the graph" in graph_logs.text
    assert data.train_class_counts() == torch.bincount(y[raw["train_mask"]], minlength=3).tolist()
    with pytest.raises(DataError, match=rf"test_mask: 7 test nodes without a label \(-1; e\.g\. node {int(outside[0])}\); "
                                        r"a split holds labelled nodes only.*split=random"):
        build_data({**raw, "y": y}, "custom", GraphLoadOptions())
    drawn = build_data({**raw, "y": y}, "custom", GraphLoadOptions(split="random"))
    split = torch.cat([drawn.train_idx, drawn.val_idx, drawn.test_idx])
    assert split.numel() == 83 and not torch.isin(outside, split).any()
    root = _files(tmp_path / "g", {**raw, "y": y, **masks})  # the same from files: labels.txt holds -1
    assert load_graph_dataset("files", str(root)).meta["load_report"]["counts"]["unlabelled_nodes"] == 7
    with pytest.raises(DataError, match=r"every node's label is -1"):
        build_data({**raw, "y": torch.full((90,), -1)}, "custom", GraphLoadOptions(split="random"))


def _node_table(root, raw, *, split_column=True, features_file=False):
    """``raw`` (an sbm dict) as a user holds it: nodes.csv with string ids (rows shuffled), class names, the split as a
    column, node 3 without a label, features as columns (or features.npz); edges.csv by ids, with a header and one
    edge to an id the table lacks."""
    import scipy.sparse as sp

    root.mkdir(parents=True)
    n = raw["y"].numel()
    names = ["alpha", "beta", "gamma"]
    split = ["train" if raw["train_mask"][i] else "val" if raw["val_mask"][i] else "test" for i in range(n)]
    split[3] = ""
    order = list(range(n))[::-1]  # the table's rows are not the node numbers
    rows = ["id,label,split," + ",".join(f"f{j}" for j in range(raw["x"].shape[1]))] if not features_file else ["id,label,split"]
    for i in order:
        label = "" if i == 3 else names[int(raw["y"][i])]
        feats = "" if features_file else "," + ",".join(f"{v:.6f}" for v in raw["x"][i].tolist())
        rows.append(f"n{i},{label},{split[i] if split_column else ''}{feats}")
    (root / "nodes.csv").write_text("\n".join(rows) + "\n")
    if features_file:
        sp.save_npz(root / "features.npz", sp.csr_matrix(raw["x"].numpy()[order]))
    edges = ["source,target"] + [f"n{u},n{v}" for u, v in raw["edge_index"].t().tolist()] + ["n5,gone"]
    (root / "edges.csv").write_text("\n".join(edges) + "\n")
    return root, order


def test_a_node_table_with_string_ids_and_class_names_loads(tmp_path, graph_logs):
    """Walk 52C: a graph held as nodes.csv (id, label, split, features) + edges.csv naming nodes by id was refused
    ("node id 'paper56656' is not an integer ... renumber the nodes"): the user wrote a renumbering helper, mapped class
    names to ids and split masks to id files. A folder with nodes.csv is read by its ids; class names are kept."""
    raw = make_sbm(90, 3, 5, seed=2)
    root, order = _node_table(tmp_path / "papers", raw)
    data = load_graph_dataset("files", str(root))
    pos = {node: row for row, node in enumerate(order)}  # node number -> row of the table
    assert data.classes == ["alpha", "beta", "gamma"] and data.num_nodes == 90
    assert torch.allclose(data.graph.x[pos[7]], raw["x"][7], atol=1e-5) and int(data.y[pos[7]]) == int(raw["y"][7])
    assert int(data.y[pos[3]]) == -1 and pos[3] not in torch.cat([data.train_idx, data.val_idx, data.test_idx]).tolist()
    assert sorted(order[int(i)] for i in data.train_idx) == [i for i in raw["train_mask"].nonzero().reshape(-1).tolist() if i != 3]
    assert data.graph.num_edges == raw["edge_index"].shape[1]
    counts = data.meta["load_report"]["counts"]
    assert counts["dangling_edges_dropped"] == 1 and counts["unlabelled_nodes"] == 1
    assert "1 edge naming a node id not in the node table dropped (first on line" in graph_logs.text
    sparse, _ = _node_table(tmp_path / "bow", raw, features_file=True)  # a bag of words as a scipy sparse matrix
    assert torch.allclose(load_graph_dataset("files", str(sparse)).graph.x, data.graph.x, atol=1e-5)
    with (root / "edges.csv").open("a") as f:  # one way only: the message names the nodes by their ids too
        f.write("n0,n89\n")
    with pytest.raises(DataError, match=rf"not symmetric: .*\(e\.g\. {pos[0]} \(id 'n0'\) -> {pos[89]} \(id 'n89'\) without"):
        load_graph_dataset("files", str(root))
    nosplit, _ = _node_table(tmp_path / "nosplit", raw, split_column=False)
    with pytest.raises(DataError, match=r"nodes\.csv \(column 'split'\) selects no node"):
        load_graph_dataset("files", str(nosplit))
    (nosplit / "nodes.csv").write_text((nosplit / "nodes.csv").read_text().replace("n7,", "n8,", 1))
    with pytest.raises(DataError, match=r"nodes\.csv line \d+: id 'n8' is listed again \(first on line \d+\)"):
        load_graph_dataset("files", str(nosplit))


def test_a_node_table_reads_class_ids_as_pandas_writes_them_and_na_as_no_label(tmp_path):
    """pandas writes an integer label column holding a missing value as floats (1.0) beside an empty cell, R writes
    NA: class ids and nodes without a label, not class names "1.0" and "NA"."""
    raw = make_sbm(90, 3, 5, seed=2)
    root, _ = _node_table(tmp_path / "pd", raw)
    lines = (root / "nodes.csv").read_text().splitlines()
    names = {"alpha": "0.0", "beta": "1.0", "gamma": "2.0"}
    out = [lines[0]] + [",".join([f[0], names.get(f[1], "NA"), *f[2:]]) for f in (line.split(",") for line in lines[1:])]
    (root / "nodes.csv").write_text("\n".join(out) + "\n")
    data = load_graph_dataset("files", str(root))
    assert data.classes == ["0", "1", "2"] and data.meta["load_report"]["counts"]["unlabelled_nodes"] == 1


def test_a_node_table_not_in_utf8_is_named_and_a_headerless_edge_list_counts_its_first_dangling_edge(tmp_path):
    """A spreadsheet's Latin-1 nodes.csv (class names with accents) escaped as a UnicodeDecodeError traceback; an edge
    list without a header whose first edge names one id the table lacks was read as a header, its edge neither kept
    nor counted among the dropped ones."""
    raw = make_sbm(90, 3, 5, seed=2)
    root, _ = _node_table(tmp_path / "latin", raw)
    table = root / "nodes.csv"
    table.write_bytes(table.read_text().replace("alpha", "th\u00e9orie").encode("latin-1"))
    with pytest.raises(DataError, match=r"nodes\.csv: line \d+ is not UTF-8 .*save the file as UTF-8"):
        load_graph_dataset("files", str(root))
    table.write_text(table.read_bytes().decode("latin-1"), encoding="utf-8")
    edges = root / "edges.csv"
    lines = edges.read_text().splitlines()
    edges.write_text("\n".join(["n5,gone"] + lines[1:-1]) + "\n")  # no header; the dangling edge first
    data = load_graph_dataset("files", str(root))
    assert data.classes == ["beta", "gamma", "th\u00e9orie"]
    assert data.meta["load_report"]["counts"]["dangling_edges_dropped"] == 1
    assert data.graph.num_edges == raw["edge_index"].shape[1]


def test_an_in_memory_pyg_graph_is_registered_by_name():
    """Walk 52C: a user holding a PyG Data (the video and audio-visual adapters take in-memory tensors) had to write it
    to disk with save_graph_data, field by field, to load it as dataset=saved; register_graph makes it a dataset name."""
    from torch_geometric.data import Data

    from mmdistill.modalities.graph import register_graph

    raw = make_sbm(90, 3, 5, seed=2)
    y = raw["y"].clone()
    y[raw["test_mask"].nonzero()[0]] = -1  # a node without a label, in no split
    data = Data(x=raw["x"].clone(), edge_index=raw["edge_index"], y=y, train_mask=raw["train_mask"], val_mask=raw["val_mask"],
                test_mask=raw["test_mask"] & (y >= 0))
    assert register_graph("walk52c-papers", data, classes=["a", "b", "c"]) == "walk52c-papers"
    data.x.mul_(0)  # the registration holds a copy
    got = load_graph_dataset("walk52c-papers", None)
    assert got.classes == ["a", "b", "c"] and torch.equal(got.graph.x, raw["x"]) and got.meta["source"].startswith("in-memory")
    assert got.meta["load_report"]["counts"]["unlabelled_nodes"] == 1
    cfg = graph_dm.RECIPE.config(dataset="walk52c-papers", ipc=2)
    assert MODALITY.load(cfg).num_nodes == 90
    with pytest.raises(ConfigError, match=r"'Cora' is a built-in graph dataset name"):
        register_graph("Cora", data)
    with pytest.raises(ConfigError, match=r"unknown graph dataset 'walk52c-nothing'.*register_graph"):
        load_graph_dataset("walk52c-nothing", None)


def test_split_ids_repeated_overlapping_or_out_of_range_are_named(tmp_path):
    raw = _raw()
    train = raw["train_mask"].nonzero().reshape(-1)
    with pytest.raises(DataError, match=r"3 node\(s\) are in both the train and the val split"):
        build_data(_raw(val_mask=raw["val_mask"] | raw["train_mask"] & (torch.cumsum(raw["train_mask"], 0) <= 3)),
                   "custom", GraphLoadOptions())
    with pytest.raises(DataError, match=r"1 repeated train node id\(s\) \(e\.g\. node \d+ listed 2 times\)"):
        build_data(_raw(train_mask=torch.cat([train, train[:1]])), "custom", GraphLoadOptions())
    root = _files(tmp_path / "g", test_txt="1\n2\n500\n")
    with pytest.raises(DataError, match=r"test\.txt: test node ids must lie in 0\.\.89; found 1 outside \(e\.g\. 500\)"):
        load_graph_dataset("files", str(root))


def test_edge_list_files_errors_name_the_file_and_never_truncate(tmp_path):
    raw = make_sbm(90, 3, 5, seed=2)
    x = raw["x"].numpy().copy()
    x[4, 2] = np.nan
    bad_x = _files(tmp_path / "nan")
    np.save(bad_x / "features.npy", x)
    with pytest.raises(DataError, match=r"nan/features\.npy: node features contain 1 NaN.*node 4, feature 2"):
        load_graph_dataset("files", str(bad_x))
    floats = _files(tmp_path / "floats")
    (floats / "labels.txt").unlink()
    np.save(floats / "labels.npy", raw["y"].numpy() + 0.5)  # was silently truncated to the class ids
    with pytest.raises(DataError, match=r"labels\.npy: expected integers, found 90 non-integer"):
        load_graph_dataset("files", str(floats))
    onehot = _files(tmp_path / "onehot")
    (onehot / "labels.txt").unlink()
    np.save(onehot / "labels.npy", np.eye(3, dtype=np.int64)[raw["y"].numpy()])
    with pytest.raises(DataError, match=r"labels\.npy: labels must have shape \(90,\).*\(90, 3\).*argmax"):
        load_graph_dataset("files", str(onehot))
    with pytest.raises(DataError, match=r"empty/edges\.csv: holds no edges"):
        load_graph_dataset("files", str(_files(tmp_path / "empty", edges_csv="")))
    with pytest.raises(DataError, match=r"loops/labels\.txt: labels must be class ids >= 0, or -1 for a node without a "
                                        r"label; found -2 at node 0"):
        load_graph_dataset("files", str(_files(tmp_path / "loops", labels_txt="-2\n" + "0\n" * 89)))
    with pytest.raises(DataError, match=r"needs >= 1 node and >= 1 feature"):
        build_data(_raw(x=torch.zeros(90, 0)), "custom", GraphLoadOptions())


def test_data_root_is_a_folder_and_may_start_with_a_tilde(tmp_path, monkeypatch):
    root = _files(tmp_path / "home" / "g")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_graph_dataset("files", "~/g").num_nodes == 90
    with pytest.raises(DataError, match=r"data_root .*edges\.csv is a file; give the folder"):
        load_graph_dataset("files", str(root / "edges.csv"))


def _symmetric_weights(edge_index):
    """(E,) weights in (0, 1] that depend on the node pair only, so ``u -> v`` and ``v -> u`` weigh the same."""
    return ((edge_index[0] + edge_index[1]) % 7 + 1).float() / 7


def test_saved_graph_keeps_its_edge_weights(tmp_path):
    """A condensed graph's export is weighted (A' entries 0.01..1); loading it as dataset=saved dropped the weights (every
    edge counted 1) and the load report said nothing was left out. The weights are now the loaded graph's, checked."""
    raw = make_sbm(90, 3, 5, seed=2)
    w = _symmetric_weights(raw["edge_index"])
    masks = {s: raw[f"{s}_mask"] for s in ("train", "val", "test")}

    def saved(name, weights):
        return str(save_graph_data(tmp_path / name, x=raw["x"], edge_index=raw["edge_index"], y=raw["y"],
                                   edge_weight=weights, masks=masks))

    data = load_graph_dataset("saved", saved("w", w))
    assert torch.equal(data.graph.edge_weight, w) and "undirected edges (weighted)" in data.describe()
    plain = Graph(data.graph.x, data.graph.edge_index)
    assert not torch.allclose(data.graph.propagate(data.graph.x), plain.propagate(plain.x))  # GCN sees the weights
    assert data.meta["source"] == "saved graph w"  # the folder's name, not the machine's path
    odd = w.clone()
    odd[0] += 1
    with pytest.raises(DataError, match=r"w2/graph\.safetensors: the edge weights are not symmetric: 1 edge\(s\).*"
                                        r"symmetrize=true"):
        load_graph_dataset("saved", saved("w2", odd))
    both = load_graph_dataset("saved", str(tmp_path / "w2"), GraphLoadOptions(symmetrize=True)).graph
    adj = torch.zeros(90, 90).index_put_(tuple(both.edge_index), both.edge_weight, accumulate=True)
    u, v = raw["edge_index"][:, 0].tolist()
    assert torch.equal(adj, adj.t()) and adj[u, v] == pytest.approx(float(w[0]) + 0.5)  # the mean of w + 1 and w
    negative = w.clone()
    negative[3] = -1.0
    with pytest.raises(DataError, match=r"edge weights must be finite and >= 0.*edge 3 .* weight -1\.0"):
        load_graph_dataset("saved", saved("w3", negative))


def test_edge_list_files_read_a_weight_column_and_skip_a_header_line(tmp_path):
    """``u,v,w`` was 'could not convert string '1.0' to int64' and a ``source,target`` header 'could not convert string
    'source''; a third column is now the edge's weight and a first line of column names is skipped."""
    raw = make_sbm(90, 3, 5, seed=2)
    ei, w = raw["edge_index"], _symmetric_weights(raw["edge_index"])
    lines = "".join(f"{u},{v},{x:.6f}\n" for (u, v), x in zip(ei.t().tolist(), w.tolist()))
    weighted = load_graph_dataset("files", str(_files(tmp_path / "w", raw, edges_csv="source,target,weight\n" + lines)))
    assert torch.equal(weighted.graph.edge_index, ei) and torch.allclose(weighted.graph.edge_weight, w, atol=1e-6)
    pairs = "".join(f"{u},{v}\n" for u, v in ei.t().tolist())
    headed = load_graph_dataset("files", str(_files(tmp_path / "h", raw, edges_csv="source,target\n" + pairs)))
    assert torch.equal(headed.graph.edge_index, ei) and headed.graph.edge_weight is None
    with pytest.raises(DataError, match=r"four/edges\.csv: each line must hold two node ids \(source target\) and "
                                        r"optionally a weight, got 4 columns"):
        load_graph_dataset("files", str(_files(tmp_path / "four", raw, edges_csv="0,1,1.0,7\n1,0,1.0,7\n")))
    with pytest.raises(DataError, match=r"half/edges\.csv: node ids must be integers; edge 1 .* has 0\.5"):
        load_graph_dataset("files", str(_files(tmp_path / "half", raw, edges_csv="0,1\n0.5,0\n")))


def test_random_split_names_the_split_files_it_does_not_use(tmp_path, graph_logs):
    """--split random on a folder with train/val/test.txt dropped the files silently; now a warning names them and the
    load report (so the card) lists them as ignored."""
    from mmdistill.card import loading_counts

    data = load_graph_dataset("files", str(_files(tmp_path / "g")), GraphLoadOptions(split="random"))
    rep = data.meta["load_report"]
    assert rep["counts"]["ignored"] == 3 and rep["files"]["ignored"] == ["train.txt", "val.txt", "test.txt"]
    assert "split=random: not using the data's own split (train.txt, val.txt, test.txt)" in graph_logs.text
    assert "ignored 3" in loading_counts({"synthetic": {"meta": {"load_report": rep}}})
    graph_logs.clear()
    assert "load_report" not in load_graph_dataset(TINY, None, GraphLoadOptions(split="random")).meta
    assert "not using" not in graph_logs.text  # a generated graph's split is not the user's input


def test_missing_split_file_is_named_by_its_file(tmp_path):
    """A files folder with train.txt but no val.txt said 'no val_mask ... add train_mask, val_mask and test_mask to the
    data'; it now names the file to add."""
    root = _files(tmp_path / "g")
    (root / "val.txt").unlink()
    with pytest.raises(DataError, match=r"g: no val\.txt; dataset=files reads its split from train\.txt, val\.txt and "
                                        r"test\.txt .* add val\.txt, or pass split=random"):
        load_graph_dataset("files", str(root))


def test_budget_given_twice_is_refused():
    """--ipc 2 --reduction-rate 0.1 gave the rate's 12 nodes and dropped ipc silently; two budget keys are an error."""
    with pytest.raises(ConfigError, match=r"budget is given 2 times: reduction_rate=0\.1 \(--reduction-rate\) and ipc=2 "
                                          r"\(--ipc\); give one of"):
        MODALITY.load(graph_dm.RECIPE.config(dataset=TINY, ipc=2, reduction_rate=0.1))
    with pytest.raises(ConfigError, match=r"reduction_rate=0\.1 .* and label_rate=0\.5"):
        MODALITY.load(graph_dm.RECIPE.config(dataset=TINY, label_rate=0.5, reduction_rate=0.1))
    with pytest.raises(ConfigError, match=r"ipc=2 \(--ipc\)"):  # a config built directly, not through the recipe
        MODALITY.load(graph_dm.RECIPE.config_cls(dataset=TINY, ipc=2, label_rate=0.5))
    assert MODALITY.load(graph_dm.RECIPE.config(dataset=TINY, reduction_rate=0.1)).num_nodes == 90
    # a saved run's config lists ipc (its default) beside its rate: not two budgets; an ipc given now is
    saved = {"dataset": TINY, "reduction_rate": 0.1, "ipc": 10}
    assert MODALITY.load(graph_dm.RECIPE.config_from_saved(saved, {})).num_nodes == 90
    with pytest.raises(ConfigError, match="ipc=2"):
        MODALITY.load(graph_dm.RECIPE.config_from_saved(saved, {"ipc": 2}))


def test_pyg_classes_never_download_unasked(tmp_path, monkeypatch):
    from torch_geometric.datasets import Planetoid

    def fetch(self):
        raise AssertionError("PyG's download ran")

    monkeypatch.setattr(Planetoid, "download", fetch)
    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path / "cache"))
    raw = tmp_path / "data" / "Cora" / "raw"
    raw.mkdir(parents=True)
    (raw / "ind.cora.x").write_bytes(b"only one of the files")
    with pytest.raises(DataError, match=r"^pyg:Planetoid/Cora: \S+ lacks Cora/raw/ind\.cora\.tx, .*--download"):
        load_graph_dataset("pyg:Planetoid/Cora", str(tmp_path / "data"))
    with pytest.raises(ConfigError, match=r"missing a required argument: 'name'.*write pyg:Planetoid/<name>"):
        load_graph_dataset("pyg:Planetoid", str(tmp_path / "data"))
    with pytest.raises(ConfigError, match=r"KarateClub.*takes no name argument"):
        load_graph_dataset("pyg:KarateClub/x", None)


def test_planetoid_edges_merged_like_pyg_are_counted(graph_logs, tmp_path):
    from mmdistill.modalities.graph.planetoid import _edge_index

    report = LoadReport()
    ei = _edge_index({0: [1, 1, 0], 1: [0], 2: []}, 3, tmp_path / "ind.x.graph", report)
    assert sorted(map(tuple, ei.t().tolist())) == [(0, 1), (1, 0)]
    assert "4 neighbour entries -> 2 edges (1 self-loops removed, 1 repeated entries merged" in graph_logs.text
    assert report.counts() == {"self_loops_removed": 1, "repeated_entries_merged": 1}  # and in the set's load report


def test_generated_graph_too_small_for_its_split_is_named():
    with pytest.raises(ConfigError, match=r"sbm:60:3:4.*leaves no test node; use >= 67 nodes"):
        load_graph_dataset("sbm:60:3:4", None)
    assert load_graph_dataset("sbm:67:3:4", None).test_idx.numel() == 1


def test_saved_graph_masks_must_be_boolean_over_the_nodes(tmp_path):
    raw = make_sbm(90, 3, 5, seed=2)
    with pytest.raises(DataError, match=r"masks\['train'\] must be a boolean mask with one entry per node \(90\)"):
        save_graph_data(tmp_path / "s", x=raw["x"], edge_index=raw["edge_index"], y=raw["y"],
                        masks={"train": raw["train_mask"].nonzero().reshape(-1)})  # node ids, not a mask
    assert not (tmp_path / "s").exists()


def _one_graph_class(monkeypatch, name, **fields):
    """A ``torch_geometric.datasets.<name>`` holding one in-memory graph, the sbm graph of :func:`_files` plus
    ``fields`` (built without a root or a download, as KarateClub), for ``dataset=pyg:<name>``."""
    import torch_geometric.datasets as pyg_datasets
    from torch_geometric.data import Data, InMemoryDataset

    raw = make_sbm(90, 3, 5, seed=2)
    graph = Data(**{k: raw[k] for k in ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")}, **fields)

    class OneGraph(InMemoryDataset):
        def __init__(self):
            super().__init__(None)
            self.data, self.slices = self.collate([graph])

    monkeypatch.setattr(pyg_datasets, name, type(name, (OneGraph,), {}), raising=False)


def test_pyg_graph_keeps_its_edge_weights_and_names_its_edge_features(monkeypatch, graph_logs):
    """A PyG graph's edge_weight was dropped (every edge counted 1) and its edge_attr too, silently; the weights are now
    the loaded graph's (checked), and edge features, which GCond's networks do not take, are named in a warning and in
    the load report (so on the card)."""
    from mmdistill.card import loading_counts

    raw = make_sbm(90, 3, 5, seed=2)  # the graph _one_graph_class holds
    w = _symmetric_weights(raw["edge_index"])
    _one_graph_class(monkeypatch, "TinyWeighted", edge_weight=w)
    data = load_graph_dataset("pyg:TinyWeighted", None)
    assert torch.equal(data.graph.edge_weight, w) and "undirected edges (weighted)" in data.describe()
    odd = w.clone()
    odd[0] += 1
    _one_graph_class(monkeypatch, "TinyOdd", edge_weight=odd)
    with pytest.raises(DataError, match=r"^pyg:TinyOdd edge_index: the edge weights are not symmetric"):
        load_graph_dataset("pyg:TinyOdd", None)
    _one_graph_class(monkeypatch, "TinyFeatured", edge_attr=torch.ones(raw["edge_index"].shape[1], 4))
    data = load_graph_dataset("pyg:TinyFeatured", None)
    assert data.graph.edge_weight is None
    assert "pyg:TinyFeatured: edge_attr (%d, 4) (edge features) not used" % raw["edge_index"].shape[1] in graph_logs.text
    rep = data.meta["load_report"]
    assert rep["counts"]["edge_features_ignored"] == 1 and rep["files"]["edge_features_ignored"] == ["edge_attr"]
    assert "edge features ignored 1" in loading_counts({"synthetic": {"meta": {"load_report": rep}}})
    graph_logs.clear()
    _one_graph_class(monkeypatch, "TinyScalar", edge_attr=w[:, None])  # one column: perhaps weights, named how to keep them
    load_graph_dataset("pyg:TinyScalar", None)
    assert "if they are edge weights, save the graph with edge_weight=edge_attr" in graph_logs.text


def test_labels_and_split_files_written_as_floats_are_read_as_integers(tmp_path):
    """np.savetxt's default '1.000000000000000000e+00' (or '1.0') in labels.txt or a split file was "could not convert
    string to int64 at row 0" (a 0-based row); whole numbers written as floats are now read exactly, and a value that is
    not one is named with its file's 1-based line."""
    raw = make_sbm(90, 3, 5, seed=2)
    root = _files(tmp_path / "g", raw)
    np.savetxt(root / "labels.txt", raw["y"].numpy())  # the default format: floats
    np.savetxt(root / "train.txt", raw["train_mask"].nonzero().reshape(-1).numpy())
    (root / "val.txt").write_text("".join(f"{v}.0\n" for v in raw["val_mask"].nonzero().reshape(-1).tolist()))
    data = load_graph_dataset("files", str(root))
    assert torch.equal(data.y, raw["y"]) and torch.equal(data.train_idx, raw["train_mask"].nonzero().reshape(-1))
    assert torch.equal(data.val_idx, raw["val_mask"].nonzero().reshape(-1))
    (root / "labels.txt").write_text("label\n# a comment\n0\n\n1.0\n1.5\n" + "0\n" * 86)
    with pytest.raises(DataError, match=r"g/labels\.txt: expected integers, found 1 non-integer value\(s\): line 6 "
                                        r"holds '1\.5'"):
        load_graph_dataset("files", str(root))
    (root / "labels.txt").write_text("0\n0\nx\n" + "0\n" * 87)
    with pytest.raises(DataError, match=r"g/labels\.txt: cannot read it as a table of int64: line 3, column 1: "
                                        r"could not convert string 'x'"):
        load_graph_dataset("files", str(root))


def test_a_fractional_label_is_refused_also_where_numpy_would_truncate_it(tmp_path, monkeypatch):
    """Walk 48A: numpy 1.23-2.2 (all Python 3.10 gets, and the floor) reads '1.5' into an int64 table as 1 with only a
    DeprecationWarning, so labels.txt's 1.5 became class 1 without a word there (numpy >= 2.3 refuses it). Here np.loadtxt
    behaves as those versions do; the value is still named with its line."""
    import warnings

    from mmdistill.modalities.graph import datasets

    real = np.loadtxt

    def old_numpy_loadtxt(*args, dtype=float, **kwargs):
        if np.dtype(dtype).kind not in "iu":
            return real(*args, dtype=dtype, **kwargs)
        table = real(*args, dtype=np.float64, **kwargs)
        if (table != np.round(table)).any():
            warnings.warn("loadtxt(): Parsing an integer via a float is deprecated.", DeprecationWarning, stacklevel=2)
        return table.astype(dtype)

    monkeypatch.setattr(datasets.np, "loadtxt", old_numpy_loadtxt)
    root = _files(tmp_path / "g", make_sbm(90, 3, 5, seed=2))
    (root / "labels.txt").write_text("0\n" * 5 + "1.5\n" + "0\n" * 84)
    with pytest.raises(DataError, match=r"g/labels\.txt: expected integers, found 1 non-integer value\(s\): line 6 holds '1\.5'"):
        load_graph_dataset("files", str(root))
    (root / "labels.txt").write_text("".join(f"{v}.0\n" for v in [0, 1, 2] * 30))  # whole numbers as floats: read
    assert load_graph_dataset("files", str(root)).y.tolist() == [0, 1, 2] * 30


def test_saved_graph_without_val_and_test_masks_says_how_to_load_it(tmp_path):
    """An exported condensed graph holds only train_mask: loading it as dataset=saved said 'no val_mask ... add train_mask,
    val_mask and test_mask to the data'; it now names the file, what the export holds and how it loads."""
    raw = make_sbm(90, 3, 5, seed=2)
    everyone = {"train": torch.ones(90, dtype=torch.bool)}
    folder = save_graph_data(tmp_path / "exp", x=raw["x"], edge_index=raw["edge_index"], y=raw["y"], masks=everyone,
                             meta={"structure": "pge", "adj_threshold": 0.01})  # as export_condensed writes it
    with pytest.raises(DataError, match=r"exp/graph\.safetensors: holds train_mask but no val_mask, test_mask \(an "
                                        r"exported condensed graph marks every node as a training node\); .* pass "
                                        r"split=random \(--split random\) .* of its 90 nodes"):
        load_graph_dataset("saved", str(folder))
    assert load_graph_dataset("saved", str(folder), GraphLoadOptions(split="random")).num_nodes == 90
    y = torch.zeros(90, dtype=torch.long)
    y[:2] = torch.tensor([1, 2])
    small = save_graph_data(tmp_path / "small", x=raw["x"], edge_index=raw["edge_index"], y=y, masks=everyone)
    with pytest.raises(DataError, match=r"small/graph\.safetensors: holds train_mask but no val_mask, test_mask; .*"
                                        r"split=random \(--split random\) cannot split it either .* class\(es\) \[1, 2\] "
                                        r"have fewer, counts \[88, 1, 1\]\): save it with all three masks"):
        load_graph_dataset("saved", str(small))


# ------------------------------------------------------------------------------------------------ PGE
def test_generator_is_gconds_pair_mlp():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 4, generator=g, requires_grad=True)
    w = {k: v.requires_grad_() for k, v in init_pge(4, 5, 3, g).items()}
    adj = generate_adjacency(x, w)
    # reference: the MLP on every concatenated ordered pair (i, j), BatchNorm on batch statistics
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(), torch.nn.Linear(5, 5),
                              torch.nn.BatchNorm1d(5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    with torch.no_grad():
        for i, layer in enumerate((0, 3, 6)):
            mlp[layer].weight.copy_(w[f"pge.{i}.weight"])
            mlp[layer].bias.copy_(w[f"pge.{i}.bias"])
    pairs = torch.cat([x.repeat_interleave(6, 0), x.repeat(6, 1)], dim=1)
    ref = mlp.train()(pairs).reshape(6, 6)
    ref = torch.sigmoid((ref + ref.t()) / 2) * (1 - torch.eye(6))
    assert torch.allclose(adj, ref, atol=1e-5)
    assert torch.equal(adj, adj.t()) and (adj.diagonal() == 0).all() and ((adj > 0) | torch.eye(6, dtype=torch.bool)).all()
    adj.sum().backward()
    assert x.grad is not None and all(v.grad is not None for v in w.values())


# ------------------------------------------------------------------------------------------------ networks
def test_networks_agree_on_dense_and_sparse_graphs():
    g = torch.Generator().manual_seed(3)
    n = 12
    a = torch.rand(n, n, generator=g) * (torch.rand(n, n, generator=g) < 0.4)
    a = torch.triu(a, 1)
    a = a + a.t()
    x = torch.randn(n, 6, generator=g)
    dense = Graph(x, adj=a)
    idx = a.nonzero().t()
    sparse = Graph(x, idx, a[idx[0], idx[1]])
    for name in CROSS_ARCH:
        net = build_graph_network(name, 6, 3, hidden=8).eval()
        reinitialize_graph_net(net, generator(0, name))
        out_d, out_s = net(dense), net(sparse)
        assert out_d.shape == (n, 3)
        assert torch.allclose(out_d, out_s, atol=1e-5), name
        reweighted = net(Graph(x, adj=a * torch.linspace(0.1, 2.0, n)[:, None] * torch.linspace(0.1, 2.0, n)[None, :]))
        assert torch.allclose(reweighted, out_d, atol=1e-6) == (name == "mlp"), name  # edge weights matter


def test_sgc_multi_is_gconds_two_transformation_sgc():
    """GCond's models/sgc_multi.py (ntrans=2, nlayers=2): Â² (ReLU(X W1 + b1) W2 + b2), on dense and sparse graphs."""
    g = torch.Generator().manual_seed(5)
    n = 10
    a = torch.triu(torch.rand(n, n, generator=g) * (torch.rand(n, n, generator=g) < 0.5), 1)
    a = a + a.t()
    x = torch.randn(n, 6, generator=g)
    dense, idx = Graph(x, adj=a), a.nonzero().t()
    net = build_graph_network("sgc-multi", 6, 3, hidden=8).eval()
    assert [tuple(p.shape) for p in net.parameters()] == [(8, 6), (8,), (3, 8), (3,)]
    m = a + torch.eye(n)
    d = m.sum(1).pow(-0.5)
    norm = d[:, None] * m * d[None, :]
    expected = norm @ norm @ net.lin2(torch.relu(net.lin1(x)))
    assert torch.allclose(net(dense), expected, atol=1e-5)
    assert torch.allclose(net(Graph(x, idx, a[idx[0], idx[1]])), expected, atol=1e-5)


def test_gcn_propagation_is_pygs_gcn_norm():
    from torch_geometric.nn import GCNConv

    raw = make_sbm(40, 2, 4, seed=0)
    graph = Graph(raw["x"], raw["edge_index"])
    net = build_graph_network("gcn", 4, 2, hidden=5).eval()
    ref = GCNConv(4, 5)
    ref.lin.load_state_dict(net.convs[0].lin.state_dict())
    ref.bias.data.copy_(net.convs[0].bias.data)
    assert torch.allclose(net.convs[0](graph.x, graph.operator("gcn")), ref(graph.x, graph.edge_index), atol=1e-5)
    dense = Graph(raw["x"], adj=torch.zeros(40, 40).index_put_(tuple(raw["edge_index"]), torch.ones(raw["edge_index"].shape[1])))
    assert torch.allclose(net(dense), net(graph), atol=1e-5)


def test_unknown_graph_network_is_named():
    with pytest.raises(ConfigError, match="unknown graph network 'gat'"):
        graph_gcond.RECIPE.config(eval_network="gat")


# ------------------------------------------------------------------------------------------------ matching
def _matcher(**over):
    keys = {**FAST, **over}
    if "reduction_rate" in over or "label_rate" in over:  # a rate is the budget: FAST's ipc would give it twice
        keys.pop("ipc")
    cfg = graph_gcond.RECIPE.config(**keys)
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init")).requires_grad_(True)
    net = MODALITY.matching_network(cfg, data)
    ctx = MatchContext(config=cfg, data=data, modality=MODALITY, net=net, augment=None, task=MODALITY.task(cfg),
                       device=torch.device("cpu"), syn=syn)
    return cfg, syn, make_gcond_matcher(ctx), make_graph_optimizer(syn, cfg)


def test_gcond_alternates_structure_and_feature_updates():
    cfg, syn, matcher, opt = _matcher(structure_period=50, structure_steps=10)
    for it, changed in ((3, "structure"), (10, "features")):
        before = {k: v.detach().clone() for k, v in syn.data.items()}
        matcher.start_iteration(it)
        stats = matcher.step(syn, opt, generator(0, "it", it))
        assert stats["structure_step"] == (changed == "structure") and np.isfinite(stats["loss"])
        moved = {k for k, v in syn.data.items() if not torch.equal(v, before[k])}
        assert moved == ({"x"} if changed == "features" else set(pge_weights(syn.data)))


def test_gcond_class_weights_follow_the_budget():
    cfg, syn, matcher, _ = _matcher(label_rate=0.5)
    counts = torch.bincount(syn.labels).tolist()
    assert matcher.inner.class_weights == [c / max(counts) for c in counts]


# ------------------------------------------------------------------------------------------------ end to end
@pytest.fixture(scope="module")
def gcond_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gcond") / "run"
    flags = ["--dataset", TINY, "--label-rate", "0.25", "--iterations", "4", "--eval-runs", "1", "--eval-epochs", "15",
             "--no-progress", "--out", str(out), "outer_loop=2", "inner_loop=2", "hidden=16", "pge_hidden=8",
             "structure_period=2", "structure_steps=1", "checkpoint_every=2"]
    assert cli_main(["run", "graph-gcond", *flags]) == 0
    return out


def test_gcond_run_writes_the_contract(gcond_run, capsys):
    manifest = json.loads((gcond_run / "manifest.json").read_text())
    assert (manifest["recipe"], manifest["modality"], manifest["method"]) == ("graph-gcond", "graph", "gcond")
    assert manifest["budget_label"] == "15 nodes (label rate 0.25)"
    metrics = manifest["metrics"]
    for key in ("distilled", "random_real", "herding", "whole_graph"):
        assert 0.0 <= metrics[key]["mean"] <= 1.0 and len(metrics[key]["runs"]) == 1, key
    assert metrics["synthetic"]["nodes"] == 15 and metrics["synthetic"]["adj_threshold"] == 0.01
    for name in ("preview.png", "loss.png", "accuracy.png", "synthetic.safetensors"):
        assert (gcond_run / name).stat().st_size > 0, name
    syn, _ = load_synthetic(gcond_run)
    assert syn.data["x"].shape == (15, 8) and pge_weights(syn.data)["pge.0.weight"].shape == (8, 16)


def test_the_preview_draws_each_nodes_strongest_edges_and_the_adjacency(gcond_run, tmp_path, monkeypatch):
    """A condensed adjacency is dense; the preview drew every kept edge (a hairball at 70 nodes). Now: each node's
    3 strongest edges in the layout, and A' as a class-ordered matrix beside it."""
    from mmdistill.modalities.graph.export import draw_condensed, strongest_edges

    edges = [(0, 1, 0.9), (0, 2, 0.1), (0, 3, 0.5), (1, 2, 0.2), (2, 3, 0.05)]
    assert strongest_edges(edges, 1) == [(0, 1, 0.9), (0, 3, 0.5), (1, 2, 0.2)]  # 0 and 1: 0.9; 2: 0.2; 3: 0.5
    assert strongest_edges(edges, 9) == edges
    syn, _ = load_synthetic(gcond_run)
    import mmdistill.modalities.graph.export as export

    seen = []
    monkeypatch.setattr(export, "save_figure", lambda fig, path: seen.append(fig) or path)
    draw_condensed(syn, tmp_path / "p.png", "t")
    titles = [a.get_title() for a in seen[0].axes]
    assert any("strongest edges" in t or "every kept edge" in t for t in titles) and any("kept adjacency" in t for t in titles)
    # walk 53G: the class blocks were a thin red line, lost on dark cells in grey print: a white rim lies under each
    rims = [p.get_linewidth() > 2 and tuple(p.get_edgecolor()) == (1.0, 1.0, 1.0, 1.0) for p in seen[0].axes[1].patches]
    assert rims and rims.count(True) == rims.count(False)
    __import__("mmdistill.plots", fromlist=["pyplot"]).pyplot().close(seen[0])


def test_the_preview_alt_text_says_what_the_graph_picture_draws(gcond_run):
    """(Walk 54E.) The card described a graph's preview.png as "preview of the 15 nodes ..., as the modality draws them":
    a reader without the picture learnt nothing of its panels or its colour key. The adapter's preview_words says both,
    and the card's alt text carries them."""
    import mmdistill.modalities.graph.export as export

    syn, manifest = load_synthetic(gcond_run)
    said = MODALITY.preview_words(syn)
    _, edges, drawn = export._kept_edges(syn)
    assert said.startswith("the condensed graph's 15 synthetic nodes, one marker per node coloured and shaped by class, in "
                           "two panels: left, the nodes placed by a spring layout of ")
    assert "right, the kept adjacency A' as a 15 x 15 matrix" in said and f"; {len(edges)} edges (weight >= 0.01)" in said
    names = syn.meta["classes"]
    assert f"class key: {names[0]} blue circles ({int((syn.labels == 0).sum())})" in said and "grey squares" in said
    assert manifest["preview_words"] == said and "class key: " in (gcond_run / "README.md").read_text()


def test_the_preview_and_its_words_build_the_condensed_graph_once(gcond_run, tmp_path, monkeypatch):
    """(Mend 54M, review R3 finding 3.) An artifact's write draws the preview, then asks for its words: each built the
    kept adjacency again (the generator on all n^2 node pairs, sparsify, the edge list and its sort; 10.0 s against
    6.4 s for both at 700 nodes). Now once; a changed tensor or threshold builds it again."""
    import mmdistill.modalities.graph.export as export
    import mmdistill.modalities.graph.matching as matching

    syn, _ = load_synthetic(gcond_run)
    built = []
    real = matching.synthetic_graph
    monkeypatch.setattr(matching, "synthetic_graph", lambda *a, **k: built.append(1) or real(*a, **k))
    monkeypatch.setattr(export, "save_figure", lambda fig, path: __import__("mmdistill.plots", fromlist=["pyplot"]).pyplot().close(fig) or path)
    MODALITY.write_preview(syn, tmp_path / "p.png", "t")
    said = MODALITY.preview_words(syn)
    assert len(built) == 1
    with torch.no_grad():
        syn.data["x"].mul_(2.0)  # an in-place change: the graph is built again
    assert MODALITY.preview_words(syn).startswith("the condensed graph's") and len(built) == 2
    syn.meta["adj_threshold"] = 2.0  # a threshold above every weight: no kept edge
    assert MODALITY.preview_words(syn) != said and "; 0 edges" in MODALITY.preview_words(syn) and len(built) == 3
    other, _ = load_synthetic(gcond_run)  # another set with the same values: its own graph
    assert MODALITY.preview_words(other) == said and len(built) == 4


def test_a_structure_free_graph_preview_says_it_has_no_edges():
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet({"x": torch.randn(5, 4)}, torch.tensor([0, 0, 0, 2, 2]), 3, meta={"structure": "identity", "classes": ["a", "b"]})
    assert MODALITY.preview_words(syn) == ("the condensed graph's 5 synthetic nodes, one marker per node coloured "
                                                       "and shaped by class; A' = I (structure-free); class key: a blue "
                                                       "circles (3), 2 orange triangles (2)")


def test_export_is_a_pyg_data_saved_without_pickle(gcond_run, tmp_path):
    assert cli_main(["export", str(gcond_run), "--to", str(tmp_path / "exp")]) == 0
    data = load_condensed(tmp_path / "exp")
    syn, _ = load_synthetic(gcond_run)
    assert data.num_nodes == 15 and torch.equal(data.y, syn.labels) and bool(data.train_mask.all())
    assert data.classes == list(syn.meta["classes"]) and len(data.classes) == int(syn.labels.max()) + 1  # y's names
    assert (data.edge_weight >= 0.01).all() and data.edge_index.shape[1] == data.edge_weight.numel()
    assert sorted(p.name for p in (tmp_path / "exp").iterdir()) == ["README.md", "graph.json", "graph.safetensors"]  # + the card
    stored = json.loads((gcond_run / "manifest.json").read_text())["storage"]  # it said "float32 model inputs"
    assert stored["real_basis"].startswith("a real node's float32 features and its edges")
    assert "the whole graph: every training node" in (gcond_run / "README.md").read_text()  # not "the same size" for all rows
    card = (tmp_path / "exp" / "README.md").read_text()  # it described class folders and classes.json, which a graph has not
    assert "It holds `graph.json`, `graph.safetensors`." in card and "classes.json" not in card
    # walk 52C: the export's card showed only mmdistill.load of the run folder; it names its tensors, the PyG loader and
    # the setting its metrics were measured in (a user testing their own GNN on the real graph compares with them)
    assert "`edge_weight` (E,) (the learned adjacency kept above its threshold 0.01)" in card
    assert 'data = load_condensed("PATH/TO/THIS/FOLDER")' in card and "`edge_weight=data.edge_weight`" in card
    assert "measured transductively: each network trained on the condensed graph ran on the whole real graph" in card
    header = json.loads((tmp_path / "exp" / "graph.json").read_text())  # the feature space a model trained on it reads
    assert header["normalize_features"] == syn.meta["normalize_features"] and "feature space" in header["features"]
    # the export loads as dataset=saved with split=random (it holds only train_mask); split=masks says so
    with pytest.raises(DataError, match=r"exp/graph\.safetensors: holds train_mask but no val_mask, test_mask .*split=random"):
        load_graph_dataset("saved", str(tmp_path / "exp"))
    back = load_graph_dataset("saved", str(tmp_path / "exp"), GraphLoadOptions(split="random"))
    assert back.num_nodes == 15


def test_the_export_card_says_a_structure_free_and_an_inductive_setting():
    from mmdistill.modalities.graph.export import export_note

    note = export_note({"structure": "identity", "setting": "inductive", "normalize_features": "standard"})
    assert "empty: a structure-free graph (A' = I)" in note and "(x - feature_mean) / feature_std" in note
    assert "measured inductively: each network trained on the condensed graph ran on the subgraph induced by the real test" in note


def test_eval_cross_arch(gcond_run, capsys):
    assert cli_main(["eval", str(gcond_run), "--cross-arch", "--runs", "1", "--epochs", "5", "--no-baselines"]) == 0
    captured = capsys.readouterr()
    out = captured.out + captured.err  # the summary on stdout, the per-network tables logged on stderr
    for name in ("[sgc]", "[gcn]", "[graphsage]", "[appnp]", "[cheby]", "[mlp]"):
        assert name in out
    assert "scored on gcn (and 5 more networks" in out  # the plain evaluation's network heads the table (it was sgc)


def test_resume_is_bit_exact(tmp_path):
    full = graph_gcond.run(**FAST, out=str(tmp_path / "full"), evaluate=False)
    graph_gcond.run(**FAST, out=str(tmp_path / "cut"), evaluate=False, stop_after=3)
    resumed = graph_gcond.run(**FAST, out=str(tmp_path / "cut"), evaluate=False, resume=True)
    for k, v in full.synthetic.data.items():
        assert torch.equal(v, resumed.synthetic.data[k]), k


def test_structure_free_and_distribution_matching(tmp_path):
    x_run = graph_gcond_x.run(**FAST, out=str(tmp_path / "x"), baselines=[], whole_graph=False)
    assert set(x_run.synthetic.data) == {"x"} and x_run.manifest["metrics"]["synthetic"]["edges"] == 0
    assert synthetic_graph(x_run.synthetic).num_edges == 0
    dm = graph_dm.run(dataset=TINY, ipc=2, iterations=3, eval_runs=1, eval_epochs=10, hidden=16, pge_hidden=8,
                      progress=False, out=str(tmp_path / "dm"), baselines=[], whole_graph=False)
    before = MODALITY.init_synthetic(MODALITY.load(graph_dm.RECIPE.config(dataset=TINY, ipc=2, hidden=16, pge_hidden=8)),
                                     graph_dm.RECIPE.config(dataset=TINY, ipc=2, hidden=16, pge_hidden=8), generator(0, "init"))
    assert not torch.equal(dm.synthetic.data["x"], before.data["x"])  # the features moved
    assert 0.0 <= dm.manifest["metrics"]["distilled"]["mean"] <= 1.0


def test_inductive_setting_trains_on_the_training_subgraph(tmp_path):
    data = load_graph_dataset(TINY, None, GraphLoadOptions(setting="inductive"))
    graph, nodes = data.view("train")
    assert data.visible_nodes == graph.num_nodes == data.train_idx.numel() == 60
    assert torch.equal(nodes, torch.arange(60)) and data.view("test")[0].num_nodes == data.test_idx.numel()
    # the training graph holds exactly the whole graph's edges between training nodes
    full = data.graph.edge_index
    inside = torch.isin(full[0], data.train_idx) & torch.isin(full[1], data.train_idx)
    mapped = {tuple(e) for e in data.train_idx[graph.edge_index].t().tolist()}
    assert mapped == {tuple(e) for e in full[:, inside].t().tolist()}
    no_ipc = {k: v for k, v in FAST.items() if k != "ipc"}  # the rate is the budget
    res = graph_gcond.run(**{**no_ipc, "iterations": 2}, setting="inductive", reduction_rate=0.1, out=str(tmp_path / "ind"),
                          baselines=["random_real"])
    assert res.manifest["metrics"]["synthetic"]["nodes"] == 6  # 10 % of the 60 visible (training) nodes
    assert res.manifest["config"]["eval_dropout"] == 0.0  # GCond's inductive evaluation


def test_a_structure_free_set_exports_to_hugging_face_and_back(tmp_path):
    """GCond-X's set has no edges (E = 0): before, `export --to hf` was a pyarrow traceback (a fixed-size list of length
    0); its edges are now empty variable-length lists, read back as (2, 0) and (0,)."""
    pytest.importorskip("datasets")
    import mmdistill
    from mmdistill.share import export_hf, read_hf

    run = graph_gcond_x.run(**FAST, out=str(tmp_path / "x"), evaluate=False)
    loaded = mmdistill.load(run.out_dir)
    assert loaded.inputs["edge_index"].shape == (2, 0)
    back = read_hf(export_hf(run.out_dir, tmp_path / "hf"))
    for key, tensor in loaded.inputs.items():
        assert torch.equal(back[f"inputs.{key}"], tensor), key
    assert torch.equal(back["labels"], loaded.labels)


def test_string_node_ids_under_a_header_are_named_on_their_own_line(tmp_path):
    """``source,target`` then ``n16,n20``: the header was parsed as data (it was taken as one only above an all-number
    line) and the error blamed line 1, 'source'; the header is now skipped and the first bad id named with its line and
    what node ids must be."""
    raw = make_sbm(90, 3, 5, seed=2)
    root = _files(tmp_path / "g", raw, edges_csv="source,target\nn16,n20\nn20,n16\n")
    with pytest.raises(DataError, match=r"g/edges\.csv: line 2: node id 'n16' is not an integer \(line 1, 'source,target', read "
                                        r"as the header\): node ids are the 0-based row numbers of features\.npy") as err:
        load_graph_dataset("files", str(root))
    assert "'source'" not in str(err.value).replace("'source,target'", "")
    (root / "edges.csv").write_text("u v\n0 1\n1 0\n7 x2\n")  # .csv: commas; the same with a whitespace .txt
    (root / "edges.csv").rename(root / "edges.txt")
    with pytest.raises(DataError, match=r"g/edges\.txt: line 4: node id 'x2' is not an integer"):
        load_graph_dataset("files", str(root))
    (root / "edges.txt").write_text("0 1 heavy\n1 0 light\n")  # a bad weight is no node id: the table's own message
    with pytest.raises(DataError, match=r"edges\.txt: cannot read it as a table of float64: line 1, column 3"):
        load_graph_dataset("files", str(root))
    pairs = "".join(f"{u},{v}\n" for u, v in raw["edge_index"].t().tolist())
    (root / "edges.txt").unlink()
    (root / "edges.csv").write_text("source,target\n" + pairs)  # a numeric edge list under the header still loads
    assert torch.equal(load_graph_dataset("files", str(root)).graph.edge_index, raw["edge_index"])


# ------------------------------------------------------------------------------------------------ untrusted input (walk39D)
def _saved(tmp_path, **header):
    """A saved sbm graph whose ``graph.json`` fields ``header`` replace."""
    raw = make_sbm(90, 3, 5, seed=2)
    folder = save_graph_data(tmp_path / "s", x=raw["x"], edge_index=raw["edge_index"], y=raw["y"],
                             masks={s: raw[f"{s}_mask"] for s in ("train", "val", "test")})
    meta = json.loads((folder / "graph.json").read_text())
    (folder / "graph.json").write_text(json.dumps({**meta, **header}))
    return str(folder)


@pytest.mark.parametrize("classes, got", [("abc", "got a str"), ({"x": 1, "y": 2, "z": 3}, "got a dict"),
                                          (["a", 1, "c"], "got a list whose item 1 is int")])
def test_saved_graph_classes_of_the_wrong_type_are_refused(tmp_path, classes, got):
    with pytest.raises(DataError, match=rf"graph.json: field 'classes' must be a list of strings, one class name per "
                                        rf"class id 0..C-1, {got}"):
        load_graph_dataset("saved", _saved(tmp_path, classes=classes))


def test_saved_graph_repeated_or_control_class_names_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"graph.json: field 'classes' names 'a' more than once"):
        load_graph_dataset("saved", _saved(tmp_path / "d", classes=["a", "a", "b"]))
    with pytest.raises(DataError, match=r"class 1's name 'b\\n\\x1b\[31mx\\u202e' holds a control or bidi") as err:
        load_graph_dataset("saved", _saved(tmp_path / "c", classes=["a", "b\n\x1b[31mx\u202e", "c"]))
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value)
    assert load_graph_dataset("saved", _saved(tmp_path / "ok", classes=["a", "b", "c"])).classes == ["a", "b", "c"]


def test_repeated_class_names_are_listed_in_the_order_of_their_second_mention_and_capped(tmp_path):
    """Review 40C: the repeated names were found by a comprehension with a side effect; a Counter finds them now, in the
    same order (each name where it is given a second time), listed by words.id_list (five, then the count)."""
    from mmdistill.words import id_list

    names = ["b", "a", "c", "a", "b"]  # 'a' is repeated first, then 'b'
    with pytest.raises(DataError, match=r"field 'classes' names 'a', 'b' more than once; give each class id its own name$"):
        load_graph_dataset("saved", _saved(tmp_path / "two", classes=names))
    many = [f"c{i}" for i in range(7)] * 2
    with pytest.raises(DataError, match=r"names 'c0', 'c1', 'c2', 'c3', 'c4' \.\.\. \(7 in all\) more than once"):
        load_graph_dataset("saved", _saved(tmp_path / "many", classes=many))
    assert id_list(range(3)) == "0, 1, 2" and id_list(range(13)) == "0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 ... (13 in all)"
    assert id_list(["x"] * 5, 5) == "x, x, x, x, x" and id_list([], 5) == ""


def test_a_class_name_in_two_unicode_forms_is_refused_naming_both_spellings_the_file_and_field(tmp_path):
    """Review 40C: ``café`` composed and ``cafe`` + combining accent were two classes that print the same; the
    graph loader refuses them as the audio-visual loader does its labels, naming both spellings (escaped), their class
    ids, the file and the field. Names differing in case, or only in their other letters, still load."""
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    folder = _saved(tmp_path / "nfd", classes=[composed, "b", decomposed])
    with pytest.raises(DataError) as err:
        load_graph_dataset("saved", folder)
    text = str(err.value)
    assert text.startswith(f"{folder}/graph.json: field 'classes': 1 label(s) spelled more than one way, ")
    assert "'caf\\xe9' (class 0) vs 'cafe\\u0301' (class 2);" in text and "(and" not in text
    with pytest.raises(DataError, match=r"\(class 0\) vs .* \(class 1\) \(and 1 more\); .*write each label one way \(NFC, single spaces\)$"):
        load_graph_dataset("saved", _saved(tmp_path / "two", classes=[decomposed, composed, "A\u030a", "\u00c5"]))
    with pytest.raises(DataError, match=r"'a b' \(class 0\) vs 'a  b' \(class 1\)"):  # whitespace too, as audio-visual labels
        load_graph_dataset("saved", _saved(tmp_path / "ws", classes=["a b", "a  b", "c"]))
    ok = ["Caf\u00e9", composed, "cafe"]
    assert load_graph_dataset("saved", _saved(tmp_path / "ok", classes=ok)).classes == ok
    nfd_only = [decomposed, "b", "c"]  # one spelling, decomposed: kept as written
    assert load_graph_dataset("saved", _saved(tmp_path / "one", classes=nfd_only)).classes == nfd_only


def test_a_huge_or_sparse_label_id_is_refused_before_building_per_class_names(tmp_path):
    raw = make_sbm(90, 3, 5, seed=2)
    y = raw["y"].clone()
    y[7] = 10**12
    folder = _files(tmp_path / "huge", raw={**raw, "y": y})
    with pytest.raises(DataError, match=r"labels.txt: label 1000000000000 at node 7, but only 4 distinct labels among "
                                        r"90 nodes; .*renumber the classes 0..3"):
        load_graph_dataset("files", str(folder))
    sparse = _files(tmp_path / "sparse", raw={**raw, "y": raw["y"] * 40})  # labels 0, 40, 80 on 90 nodes
    with pytest.raises(DataError) as err:
        load_graph_dataset("files", str(sparse))
    assert len(str(err.value)) < 600 and "in all)" in str(err.value)  # the empty classes are capped, with the count


@pytest.mark.parametrize("spec, says", [
    ("sbm:1000000:100000:8", "CLASSES is 100000, expected 2..2,000"),
    ("sbm:90:3:1000000000", "FEATURES is 1000000000, expected 1..100,000"),
    ("sbm:10000000000:3:8", "NODES is 10000000000, expected 30..20,000"),
    ("sbm:-5:3:8", "NODES is -5, expected 30..20,000"),
    ("sbm:90:0:8", "CLASSES is 0, expected 2..2,000"),
    ("sbm:20000:3:5001", "FEATURES is 5001, expected 1..5,000"),
    ("sbm:90_0:3:8", "in decimal digits"),
    ("sbm:\uff19\uff10:3:8", "in decimal digits"),
    ("sbm:1000:45:8", "use >= 1001 nodes for 45 classes"),
])
def test_sbm_spec_parts_out_of_range_are_named_without_work(spec, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_graph_dataset(spec, None)


def test_edge_ids_beyond_float64_precision_are_out_of_range_not_non_integers(tmp_path):
    folder = _files(tmp_path / "g", edges_csv="0,1\n1,0\n9223372036854775000,2\n2,9223372036854775000\n")
    with pytest.raises(DataError, match=r"edges.csv: edge 2 .* has node id 922337203685477\d+ in column 1, out of range "
                                        r"\(2 such edge\(s\)\): node ids are the 0-based row numbers of features.npy"):
        load_graph_dataset("files", str(folder))


def test_coreset_baselines_smaller_than_the_condensed_graph_are_said_and_the_test_split_share_recorded(caplog):
    """Walk 51A: with init=noise a condensed graph may give a class more nodes than it has training nodes; the random-real
    and herding coresets then took every training node of it, silently smaller than the condensed graph while the card
    said 'as many real nodes as the condensed graph'. The plan now warns, records baseline_nodes and says it in
    trained_as; its protocol also records the test split's majority_share (the card's and the picture's imbalance line)."""
    import logging

    from mmdistill.classification import majority_share
    from mmdistill.modalities.graph.evaluate import graph_plan
    from mmdistill.recipes.graph_dm import Config

    data = load_graph_dataset(TINY, None)
    counts = data.train_class_counts()
    cfg = Config(dataset=TINY, ipc=counts[0] + 1, eval_runs=1, progress=False, baselines=["random_real"])
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.graph.evaluate"):
        plan = graph_plan(cfg, None, data, torch.device("cpu"))
    proto = plan.protocol
    assert proto["baseline_nodes"] == sum(counts) and proto["majority_share"] == majority_share(data.labels("test"))
    assert f"fewer than the condensed graph's {3 * (counts[0] + 1)}" in proto["trained_as"] and "baselines hold" in caplog.text
    plain = graph_plan(Config(dataset=TINY, ipc=1, eval_runs=1, progress=False, baselines=["random_real"]), None, data,
                       torch.device("cpu")).protocol
    assert "baseline_nodes" not in plain and "as many real nodes as the condensed graph" in plain["trained_as"]
    skewed = load_graph_dataset(TINY, None)
    skewed.y[skewed.test_idx] = 0  # every test node one class: the table's heading says the accuracy is plain
    heading = graph_plan(Config(dataset=TINY, ipc=1, eval_runs=1, progress=False, baselines=[]), None, skewed,
                         torch.device("cpu")).title
    assert "plain accuracy on an imbalanced test split: its most common class holds 100.0 %" in heading
    skewed.y[skewed.test_idx] = torch.arange(skewed.test_idx.numel()) % 3  # three (nearly) equal classes: nothing said
    assert "imbalanced" not in graph_plan(Config(dataset=TINY, ipc=1, eval_runs=1, progress=False, baselines=[]), None, skewed,
                                          torch.device("cpu")).title


def test_isolated_nodes_are_counted_in_the_load_report():
    """Walk 52C: 60 nodes of a user's graph had no edge and nothing said so; the load report's facts count them (a
    self-loop does not link a node), and a graph without any records nothing."""
    from mmdistill.load_report import LoadReport
    from mmdistill.modalities.graph.data import check_edges

    report = LoadReport()
    edges = torch.tensor([[0, 1, 3], [1, 0, 3]])  # 0 <-> 1; 3 only to itself; 2 and 4 alone
    check_edges(edges, 5, source="toy", symmetrize=False, report=report)
    assert report.facts["isolated_nodes"] == 3
    linked = LoadReport()
    check_edges(torch.tensor([[0, 1], [1, 0]]), 2, source="toy", symmetrize=False, report=linked)
    assert "isolated_nodes" not in linked.facts


def test_the_preview_tells_classes_apart_by_shape_not_only_colour(tmp_path, monkeypatch):
    """The nodes were coloured by class from tab10 alone (its green, orange, red and brown run together for red-green
    colour blindness and in grey print): each class has a colour-blind-safe colour and its own marker shape."""
    import mmdistill.modalities.graph.export as export
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet({"x": torch.randn(9, 4)}, torch.arange(9) // 3, 3, meta={"structure": "identity", "classes": ["a", "b", "c"]})
    seen = []
    monkeypatch.setattr(export, "save_figure", lambda fig, path: seen.append(fig) or path)
    export.draw_condensed(syn, tmp_path / "p.png", "t")
    points = seen[0].axes[0].collections
    shapes = {c.get_label(): c.get_paths()[0].vertices.round(3).tobytes() for c in points}
    assert list(shapes) == ["a", "b", "c"] and len(set(shapes.values())) == 3
    assert len({tuple(c.get_facecolor()[0]) for c in points}) == 3


def test_class_style_words_name_the_colour_and_shape_class_style_draws():
    from mmdistill.series_style import COLOUR_NAMES, COLOURS, MARKER_NAMES, MARKERS, class_style, class_style_words

    for c in range(64):
        style = class_style(c)
        assert class_style_words(c) == f"{COLOUR_NAMES[COLOURS.index(style['color'])]} {MARKER_NAMES[MARKERS.index(style['marker'])]}"


def test_graph_data_names_stay_importable_from_data_after_the_split():
    """modalities/graph/data.py (501 lines) was split by job (session 56F): every name its ``__all__`` listed is still
    importable from it and is the object of its new home, so user code and tests importing from ``graph.data`` work."""
    from mmdistill.modalities.graph import data, edge_checks, graph_tensors, node_labels, node_names, node_split

    homes = {"Graph": graph_tensors, "check_edges": edge_checks, "check_edge_weights": edge_checks,
             "EDGE_KINDS": edge_checks, "UNLABELLED": node_labels, "check_labels": node_labels, "node_namer": node_names,
             "NodeName": node_names, "check_split": node_split}
    assert set(data.__all__) == {*homes, "NodeClassificationData", "SETTINGS"}
    for name, module in homes.items():
        assert getattr(data, name) is getattr(module, name), name


def test_an_empty_list_of_split_node_ids_is_named_as_selecting_no_node():
    """A registered graph's val_mask given as an empty Python list (or np.array([])) was refused as 'expected node ids
    (integers) or a boolean mask, got torch.float32' (torch reads [] as float): it now says the split selects no node."""
    import numpy as np

    from mmdistill.modalities.graph.node_split import check_split

    y = torch.tensor([0, 1, 0, 1, 0, 1])
    for empty in ([], np.array([])):
        with pytest.raises(DataError, match=r"g: val_mask selects no node"):
            check_split("g", y, {"train": [0, 1], "val": empty, "test": [4, 5]}, 2)
    with pytest.raises(DataError, match="expected node ids"):
        check_split("g", y, {"train": [0, 1], "val": [2.0], "test": [4, 5]}, 2)
