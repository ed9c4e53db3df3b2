"""Paper tables as data: one lookup rule, rows looked up again when ipc/dataset/budget change, explicit keys win,
the manifest says where each value came from."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mmdistill.errors import ConfigError
from mmdistill.keys import input_keys
from mmdistill.recipes import RECIPES, TABLES_DIR, get_recipe, image_dc, image_mtt
from mmdistill.resolve import config_sources
from mmdistill.tables import load_table, normalize_name


def _table(tmp_path: Path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return load_table(path)


def test_the_lookup_rule(tmp_path):
    table = _table(tmp_path, """
title: test
rows:
  - {when: {dataset: [cifar10, "*"], ipc: 1}, set: {a: 1}, source: s1}
  - {when: {dataset: [cifar10, "*"], ipc: 50}, set: {a: 50}, source: s50}
  - {when: {dataset: cifar100, ipc: 10}, set: {a: 100}, source: s100}
""")
    assert table.lookup({"dataset": "cifar10", "ipc": 1}).values == {"a": 1}
    assert table.lookup({"dataset": "cifar10", "ipc": 25}).values == {"a": 1}  # tie 1 / 50 goes to the smaller IPC
    assert table.lookup({"dataset": "cifar10", "ipc": 26}).values == {"a": 50}
    assert table.lookup({"dataset": "CIFAR-100", "ipc": 1}).values == {"a": 100}  # a dataset's own rows beat "*"
    assert table.lookup({"dataset": "fashion_mnist", "ipc": 40}).values == {"a": 50}  # any other dataset: the "*" rows
    assert table.lookup({"ipc": 1}) is None  # a condition on a key the run does not have never matches


def test_names_match_without_case_dashes_or_underscores_and_a_wildcard_is_no_budget_name(tmp_path):
    """The module's rule: ``Fashion-MNIST`` = ``fashion_mnist`` = ``fashionmnist``; the budgets a recipe lists
    (``condition_values``) are the rows' names, never their ``"*"``."""
    table = _table(tmp_path, """
title: test
rows:
  - {when: {dataset: Fashion-MNIST, budget: [small, "*"]}, set: {a: 1}, source: s1}
  - {when: {dataset: [digits], budget: large}, set: {a: 2}, source: s2}
""")
    for name in ("Fashion-MNIST", "fashion_mnist", "fashionmnist", " FASHION_MNIST "):
        assert table.lookup({"dataset": name, "budget": "any"}).values == {"a": 1}, name
    assert table.lookup({"dataset": "fashion", "budget": "any"}) is None
    assert table.condition_values("budget", {}) == ["small", "large"]
    assert table.condition_values("budget", {"dataset": "fashion_mnist"}) == ["small"]  # the digits row cannot match


def test_every_table_row_cites_its_source_and_sets_keys_its_recipes_have():
    users: dict[str, list[str]] = {}
    for name in RECIPES:
        recipe = get_recipe(name)
        keys = set(input_keys(recipe.config_cls))
        for path in recipe.tables:
            users.setdefault(path.name, []).append(name)
            table = load_table(path)
            for row in table.rows:
                assert row.source and len(row.source) > 10, (path.name, row.label)
                recipes = dict(row.names).get("recipe")
                if recipes is not None and normalize_name(name) not in recipes:
                    continue  # a budget row of another recipe
                assert set(row.values) <= keys, (name, path.name, row.label, set(row.values) - keys)
    assert {p.name for p in TABLES_DIR.glob("*.yaml")} == set(users)  # no table file is unused


def test_run_with_another_ipc_looks_the_rows_up_again(tmp_path, monkeypatch):
    """The stale-row bug: Recipe.run(config, ipc=10) after an IPC-1 config runs with the IPC-10 row."""
    import mmdistill.recipe
    from mmdistill.run import RunResult

    ran = []

    def fake_distill(recipe, method, cfg, *args, **kwargs):  # what Recipe.run hands the pipeline, without training experts
        ran.append(cfg)
        return RunResult(tmp_path, None, {"config": dataclasses.asdict(cfg), "config_sources": config_sources(cfg)})

    monkeypatch.setattr(mmdistill.recipe, "distill", fake_distill)
    cfg1 = image_mtt.RECIPE.config(dataset="digits", ipc=1, num_experts=1, evaluate=False, progress=False, out=str(tmp_path / "run"))
    assert (cfg1.syn_steps, cfg1.max_start_epoch, cfg1.lr_lr) == (50, 5, 1e-7)  # MTT's IPC-1 row
    result = image_mtt.RECIPE.run(cfg1, ipc=10, stop_after=0)
    config, sources = result.manifest["config"], result.manifest["config_sources"]
    assert config["ipc"] == 10 and ran[0].ipc == 10
    assert (config["syn_steps"], config["expert_epochs"], config["max_start_epoch"], config["lr_data"], config["lr_lr"]) == \
        (30, 2, 15, 1000.0, 1e-5)  # MTT's IPC-10 row, not the IPC-1 row of the config it was given
    for key in ("syn_steps", "max_start_epoch", "lr_data", "lr_lr"):
        assert sources[key].startswith("tables/mtt.yaml: dataset *, ipc 10 (MTT"), sources[key]
    assert sources["network"].startswith("tables/mtt_datasets.yaml: dataset digits") and config["network"] == "convnetd2"
    assert sources["ipc"] == "arguments" and sources["num_experts"] == "arguments"  # explicit keys and where they came from
    image_mtt.RECIPE.run(cfg1)
    assert ran[1] is cfg1  # no overrides: the config runs as given


def test_dataset_and_budget_changes_look_the_rows_up_again():
    cfg = image_mtt.RECIPE.config(dataset="digits", ipc=1)
    other = image_mtt.RECIPE.rebuild(cfg, {"dataset": "cifar100"})
    assert (other.syn_steps, other.expert_epochs, other.network, other.batch_train) == (20, 3, "convnet", 256)
    cpu = image_mtt.RECIPE.rebuild(cfg, {"budget": "cpu"})
    assert (cpu.max_start_epoch, cpu.num_experts, cpu.iterations) == (5, 5, 200)
    assert config_sources(cpu)["iterations"].startswith("tables/budgets.yaml: recipe image-mtt/image-tesla, budget cpu")
    dc = image_dc.RECIPE.rebuild(image_dc.RECIPE.config(ipc=1), {"ipc": 50})
    assert (dc.outer_loop, dc.inner_loop) == (50, 10)


def test_an_explicit_value_always_wins_over_a_table_row():
    cfg = image_mtt.RECIPE.config(dataset="cifar10", ipc=1, syn_steps=12, max_start_epoch=3)
    assert (cfg.syn_steps, cfg.max_start_epoch, cfg.lr_lr) == (12, 3, 1e-7)
    assert config_sources(cfg)["syn_steps"] == "arguments"
    ten = image_mtt.RECIPE.rebuild(cfg, {"ipc": 10, "budget": "cpu"})
    assert (ten.syn_steps, ten.max_start_epoch) == (12, 3)  # explicit: kept, over the IPC-10 row and the CPU budget
    assert ten.lr_lr == 1e-5 and ten.num_experts == 5  # the rest follows the new IPC's row and the budget


def test_graph_rows_follow_dataset_and_setting():
    from mmdistill.recipes import graph_dm, graph_gcond

    cora = graph_gcond.RECIPE.config(dataset="cora")
    assert (cora.lr_feat, cora.iterations, cora.outer_loop, cora.inner_loop, cora.adj_threshold, cora.eval_dropout) == \
        (1e-4, 600, 20, 15, 0.05, 0.5)
    reddit = graph_gcond.RECIPE.rebuild(cora, {"dataset": "reddit"})
    assert (reddit.setting, reddit.pge_hidden, reddit.eval_dropout, reddit.lr_feat) == ("inductive", 256, 0.5, 0.1)
    flickr = graph_dm.RECIPE.config(dataset="flickr")
    assert (flickr.setting, flickr.eval_dropout, flickr.lr_feat) == ("inductive", 0.0, 1e-3)  # graph-dm: its own lr, GCond's graph rows
    assert graph_gcond.RECIPE.config(dataset="cora", setting="inductive").eval_dropout == 0.0  # the user's setting picks the row


def test_gcond_condenses_a_users_inductive_graph_with_the_references_inductive_defaults():
    """GCond's inductive script defaults to 600 epochs (train_gcond_induct.py:17) and get_loops' else branch 20 x 5
    (gcond_agent_induct.py:325-326); the transductive script to 2000 and 20 x 10. A graph with no row of its own takes
    the values of the setting it is condensed in; a dataset's row (Cora, Flickr) still wins, and an explicit key."""
    from mmdistill.recipes import graph_gcond, graph_gcond_x

    for recipe in (graph_gcond, graph_gcond_x):
        for dataset in ("files", "sbm", "pubmed"):
            got = [recipe.RECIPE.config(dataset=dataset, setting=s) for s in ("transductive", "inductive")]
            assert [(c.iterations, c.outer_loop, c.inner_loop, c.lr_feat) for c in got] == [(2000, 20, 10, 0.01), (600, 20, 5, 0.01)]
        cora = recipe.RECIPE.config(dataset="cora", setting="inductive")
        assert (cora.iterations, cora.outer_loop, cora.inner_loop, cora.lr_feat) == (600, 20, 15, 1e-4)  # its own row
        flickr = recipe.RECIPE.config(dataset="flickr")
        assert (flickr.setting, flickr.iterations, flickr.outer_loop, flickr.inner_loop) == ("inductive", 1000, 10, 1)
        assert recipe.RECIPE.config(dataset="files", setting="inductive", iterations=900).iterations == 900


def test_reddit_at_rate_0_01_takes_the_references_128_unit_generator():
    """models/parametrized_adj.py:17-20: Reddit's generator has 256 hidden units, 128 when --reduction_rate == 0.01
    (inductive: the reference's rate of training nodes is both our reduction_rate and our label_rate)."""
    from mmdistill.recipes import graph_dm, graph_gcond, graph_gcond_x

    for recipe in (graph_gcond, graph_gcond_x, graph_dm):
        hidden = {rate: recipe.RECIPE.config(dataset="reddit", reduction_rate=rate).pge_hidden for rate in (0.0005, 0.005, 0.01)}
        assert hidden == {0.0005: 256, 0.005: 256, 0.01: 128}
        assert recipe.RECIPE.config(dataset="reddit", label_rate=0.01).pge_hidden == 128
        at_001 = recipe.RECIPE.config(dataset="reddit", reduction_rate=0.01)
        assert (at_001.setting, at_001.adj_threshold) == ("inductive", 0.01)
    assert graph_gcond.RECIPE.config(dataset="flickr", reduction_rate=0.01).pge_hidden == 256


def test_gcond_matches_ogbn_arxiv_and_flickr_with_the_references_two_transformation_sgc():
    """GCond's reference matches ogbn-arxiv (gcond_agent_transduct.py, always) and Flickr (run_main.sh --sgc=2 in
    gcond_agent_induct.py) with models/sgc_multi.py's SGC, Cora, CiteSeer and Reddit with the one-layer SGC; the cpu
    budget keeps the paper's network, and graph-dm (its own method) keeps its GCN."""
    from mmdistill.recipes import graph_dm, graph_gcond, graph_gcond_x

    for recipe in (graph_gcond, graph_gcond_x):
        nets = {d: recipe.RECIPE.config(dataset=d).network for d in ("cora", "citeseer", "ogbn-arxiv", "flickr", "reddit", "sbm")}
        assert nets == {"cora": "sgc", "citeseer": "sgc", "ogbn-arxiv": "sgc-multi", "flickr": "sgc-multi", "reddit": "sgc",
                        "sbm": "sgc"}
        assert recipe.RECIPE.config(dataset="flickr", budget="cpu").network == "sgc-multi"
        assert recipe.RECIPE.config(dataset="flickr", network="sgc").network == "sgc"  # an explicit network wins
    assert graph_dm.RECIPE.config(dataset="ogbn-arxiv").network == "gcn"


def test_image_text_rows_follow_similarity_and_pairs():
    from mmdistill.recipes import image_text_bitrajectory, image_text_lors

    # the authors' rows at 100, 200 and 500 pairs; between two, the nearer wins and a tie goes to the smaller
    by_pairs = {ipc: image_text_lors.RECIPE.config(ipc=ipc) for ipc in (150, 200, 350, 351)}
    assert (by_pairs[150].lr_data, by_pairs[150].sim_rank) == (100.0, 10)
    assert (by_pairs[200].lr_data, by_pairs[200].sim_rank, by_pairs[200].sim_alpha, by_pairs[200].batch_syn) == (1000.0, 5, 1.0, 20)
    assert by_pairs[350].sim_rank == 5
    assert (by_pairs[351].sim_rank, by_pairs[351].batch_syn) == (20, 40)
    # the cpu budget's 200-pair row keeps the similarity shape it was validated with (rank 10, alpha 3)
    cpu = image_text_lors.RECIPE.config(ipc=200, budget="cpu")
    assert (cpu.sim_rank, cpu.sim_alpha, cpu.batch_syn, cpu.lr_data) == (10, 3.0, 40, 100.0)
    lowrank = image_text_bitrajectory.RECIPE.config(similarity="lowrank")
    assert (lowrank.lr_sim, lowrank.batch_syn) == (10.0, 20)  # a learned similarity takes LoRS's row on either recipe


def test_lors_on_cocos_caption_files_takes_the_authors_coco_rows():
    """LoRS's sh/distill_coco_lors_{100,200,500}.sh differ from the Flickr30K commands; a COCO caption file (by its release
    name, whatever the dataset key says of its format) takes them, every other data the Flickr30K rows."""
    from mmdistill.recipes import image_text_lors

    def cfg(dataset, root, ipc, **kw):
        c = image_text_lors.RECIPE.config(dataset=dataset, data_root=root, ipc=ipc, **kw)
        return (c.lr_data, c.lr_text, c.lr_sim, c.sim_rank, c.sim_alpha, c.batch_syn, c.max_start_epoch, c.iterations)

    for dataset in ("coco", "karpathy"):
        assert cfg(dataset, "ann/coco_karpathy_train.json", 100) == (1000.0, 1000.0, 5.0, 10, 1.0, 20, 2, 3000)
        assert cfg(dataset, "ann/coco_karpathy_train.json", 200) == (1000.0, 1000.0, 50.0, 20, 1.0, 20, 2, 2000)
        assert cfg(dataset, "ann/coco_karpathy_train.json", 500) == (5000.0, 5000.0, 500.0, 40, 1.0, 30, 2, 3000)
    flickr_100 = (100.0, 100.0, 10.0, 10, 3.0, 20, 2, 3000)
    assert cfg("flickr30k", "ann/flickr30k_train.json", 100) == flickr_100
    assert cfg("karpathy", "ann/my_pairs.json", 100) == flickr_100  # a user's own pairs in that format are not COCO
    assert cfg("csv", "coco_karpathy_train.csv", 100) == flickr_100
    assert cfg("coco", "ann/coco_karpathy_train.json", 200, budget="cpu")[3:] == (10, 3.0, 40, 2, 100)  # the cpu budget: its own row


def test_each_method_keeps_its_reference_codes_defaults():
    """Values the reference code sets that the shared parents of the recipes do not: bi-trajectory's distill.py
    (50,000 iterations, evaluation 50 epochs at batch 64) against LoRS's (3,000, 100 epochs at 128), TESLA's
    distill.py against MTT's (10,000 iterations, 3 networks), GCond's ogbn-arxiv evaluation without weight decay,
    DM's README lr 10 for CIFAR-10 from 100 images per class; the cpu budget keeps what it was measured with."""
    from mmdistill.recipes import graph_dm, graph_gcond, image_dm, image_tesla, image_text_bitrajectory, image_text_lors

    bt, lors = image_text_bitrajectory.RECIPE.config(), image_text_lors.RECIPE.config()
    assert (bt.iterations, bt.eval_epochs, bt.eval_batch, bt.eval_runs) == (50000, 50, 64, 5)
    assert (lors.iterations, lors.eval_epochs, lors.eval_batch, lors.eval_runs) == (3000, 100, 128, 5)
    bt_cpu = image_text_bitrajectory.RECIPE.config(budget="cpu")
    assert (bt_cpu.iterations, bt_cpu.eval_epochs, bt_cpu.eval_batch) == (100, 10, 128)
    tesla, mtt = image_tesla.RECIPE.config(), image_mtt.RECIPE.config()
    assert (tesla.iterations, tesla.eval_runs, mtt.iterations, mtt.eval_runs) == (10000, 3, 5000, 5)
    for recipe in (graph_gcond, graph_dm):
        assert recipe.RECIPE.config(dataset="ogbn-arxiv").eval_weight_decay == 0.0
        assert recipe.RECIPE.config(dataset="cora").eval_weight_decay == 5e-4
    lr = {(d, ipc): image_dm.RECIPE.config(dataset=d, ipc=ipc).lr_data for d in ("cifar10", "cifar100") for ipc in (1, 50, 100, 500)}
    assert lr == {("cifar10", 1): 1.0, ("cifar10", 50): 1.0, ("cifar10", 100): 10.0, ("cifar10", 500): 10.0,
                  ("cifar100", 1): 1.0, ("cifar100", 50): 1.0, ("cifar100", 100): 1.0, ("cifar100", 500): 1.0}
    assert image_dm.RECIPE.config(dataset="cifar10", ipc=100, budget="cpu").lr_data == 10.0
    from mmdistill.modalities.video.static_dynamic import STATIC_LR
    from mmdistill.recipes import video_static_dynamic

    sd = {(m, b): video_static_dynamic.RECIPE.config(method=m, ipc=1, budget=b) for m in ("dm", "mtt") for b in ("paper", "cpu")}
    assert (sd["mtt", "paper"].static_method, sd["mtt", "paper"].momentum_lr) == ("dc", 0.9)  # distill_s2d_ms.py; README's static learning
    assert (sd["mtt", "cpu"].static_method, sd["mtt", "cpu"].momentum_lr, sd["dm", "cpu"].static_method) == ("dm", 0.5, "dm")
    assert sd["mtt", "paper"].static_lr is None and STATIC_LR == {"dc": 0.1, "dm": 1.0}  # DC's lr_img, DM's lr_img


def test_unknown_budget_names_the_choices():
    with pytest.raises(ConfigError, match=r"budget='gpu': expected one of paper, cpu"):
        image_mtt.RECIPE.config(budget="gpu")
    with pytest.raises(ConfigError, match=r"budget='cpu': expected one of paper \(recipe clip-finetune\)"):
        get_recipe("clip-finetune").config(budget="cpu")


def test_a_config_built_directly_is_rebuilt_from_its_non_default_fields():
    cfg = image_mtt.Config(dataset="cifar10", ipc=1, syn_steps=7)
    ten = image_mtt.RECIPE.rebuild(cfg, {"ipc": 10})
    assert (ten.syn_steps, ten.max_start_epoch) == (7, 20)  # CIFAR-10 IPC 10 (MTT's ZCA setting)
    assert dataclasses.asdict(image_mtt.RECIPE.rebuild(ten, {})) == dataclasses.asdict(ten)


def test_a_saved_config_drops_what_no_longer_applies(caplog):
    """``mmdistill eval`` of a set saved by an earlier release: keys the recipe lost, and values its declarations
    no longer accept (DC's outer_loop=0 meant "the paper's"), are dropped and take today's values; the log says
    which is which, and why a value was refused."""
    saved = {**dataclasses.asdict(image_dc.RECIPE.config(ipc=1)), "outer_loop": 0, "fingerprint_only_key": 1}
    with caplog.at_level("INFO", logger="mmdistill.recipe"):
        cfg = image_dc.RECIPE.config_from_saved(saved, {"eval_runs": 2})
    assert (cfg.outer_loop, cfg.eval_runs, cfg.ipc) == (1, 2, 1)
    assert "saved keys recipe image-dc no longer has (ignored): fingerprint_only_key" in caplog.text
    assert "saved values not taken with this configuration (their defaults are used): outer_loop=0 (config key outer_loop" in caplog.text
    seq = get_recipe("sequences-td3")  # ipc is derived from seq_num: saved by this release, never "no longer has"
    caplog.clear()
    with caplog.at_level("INFO", logger="mmdistill.recipe"):
        assert seq.config_from_saved(dataclasses.asdict(seq.config(seq_num=7)), {}).ipc == 7
    assert "no longer has" not in caplog.text
    graph = get_recipe("graph-gcond")
    old = {**dataclasses.asdict(graph.config(dataset="cora")), "dsa": False, "label_mode": "hard", "setting": "transductive"}
    assert graph.config_from_saved(old, {}).adj_threshold == 0.05


def test_a_saved_network_this_process_does_not_know_is_an_error_not_the_default():
    """A set made with a network a plugin registered, evaluated where the plugin is not imported: the saved network
    name is refused with the key named (before the name check at config time it failed later; dropping it would score
    the set on the default ConvNet without a word)."""
    saved = {**dataclasses.asdict(image_dc.RECIPE.config(ipc=1)), "network": "my-plugin-net"}
    with pytest.raises(ConfigError, match=r"unknown network 'my-plugin-net'.*the saved run's network: import the package") as err:
        image_dc.RECIPE.config_from_saved(saved, {})
    assert err.value.key == "network"
    saved = {**dataclasses.asdict(image_dc.RECIPE.config(ipc=1)), "eval_networks": ["mlp", "my-plugin-net"]}
    with pytest.raises(ConfigError, match="the saved run's eval_networks"):
        image_dc.RECIPE.config_from_saved(saved, {})
    assert image_dc.RECIPE.config_from_saved(saved, {"eval_networks": ["mlp"]}).eval_networks == ["mlp"]  # a choice made now
    # networks chosen now: the saved matching network is not what gets scored, so an unknown one is dropped, not an error
    plugin_net = {**dataclasses.asdict(image_dc.RECIPE.config(ipc=1)), "network": "my-plugin-net"}
    assert image_dc.RECIPE.config_from_saved(plugin_net, {"eval_networks": ["mlp"]}).eval_networks == ["mlp"]
    # a saved pair of choices the config refuses together still loads (the names are dropped, the cross_arch list runs)
    both = {**dataclasses.asdict(image_dc.RECIPE.config(ipc=1)), "eval_networks": ["mlp"], "cross_arch": True}
    assert image_dc.RECIPE.config_from_saved(both, {}).cross_arch
