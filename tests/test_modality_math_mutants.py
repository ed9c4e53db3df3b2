"""The modalities' numerical code checked against independent computations (brute force, closed forms, sklearn,
PyTorch / PyG references, properties): each test closes a gap a planted bug (mutation walk 46B) went through."""

from __future__ import annotations

import logging
import math
from collections import Counter
from types import SimpleNamespace

import pytest
import torch

from mmdistill.modalities.sequences.data import SequenceData, SequenceLoadOptions, build_sequences
from mmdistill.modalities.sequences.evaluate import one_hot_sequences
from mmdistill.modalities.sequences.matching import MetaMatcher
from mmdistill.modalities.sequences.nets import SASRec
from mmdistill.modalities.sequences.summary import summary_logits
from mmdistill.modalities.sequences.train import NO_NEGATIVE, metrics_from_ranks, mrr_at, summary_loss, target_ranks
from mmdistill.synthetic import SyntheticSet


# ============================================================================================== sequences
def test_hr_and_ndcg_at_k_count_0_based_ranks_below_k_and_match_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    ranks = torch.tensor([0.0, 4.0, 5.0, 9.0, 10.0, 19.0, 20.0, 3.0])
    m = metrics_from_ranks(ranks)
    n_items = 30
    for k in (5, 10, 20):
        hits = [r for r in ranks.tolist() if r < k]  # 0-based rank r is a hit at K when r <= K - 1
        assert m[f"hr@{k}"] == pytest.approx(len(hits) / len(ranks))
        # sklearn: one relevant item per user, scored so that exactly `rank` other items score higher
        ndcg = []
        for r in ranks.tolist():
            true = [[1.0] + [0.0] * (n_items - 1)]
            score = [[float(n_items - int(r))] + [float(n_items - i + (1 if i <= int(r) else 0)) for i in range(1, n_items)]]
            ndcg.append(sklearn_metrics.ndcg_score(true, score, k=k))
        assert m[f"ndcg@{k}"] == pytest.approx(sum(ndcg) / len(ndcg), rel=1e-6)
    assert m["hr@5"] == pytest.approx(3 / 8) and m["hr@10"] == pytest.approx(5 / 8) and m["hr@20"] == pytest.approx(7 / 8)


def test_mrr_at_k_is_the_mean_reciprocal_of_1_based_ranks_below_k():
    r = torch.tensor([0.0, 1.0, 4.0, 5.0, 9.0, 10.0])
    assert mrr_at(r, 5) == pytest.approx((1 + 1 / 2 + 1 / 5) / 6)
    assert mrr_at(r, 10) == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 6 + 1 / 10) / 6)


class _LastItemScorer(torch.nn.Module):
    """A learner stub: the scores at a position are row ``table[item at that position]``; ``embed_ids`` passes ids."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = table
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def embed_ids(self, x):
        return x

    def encode(self, x):
        return self.table[x]

    def logits(self, h):
        return h.clone()


def _toy_sequences() -> SequenceData:
    n = 9
    train = [torch.tensor([0, 1, 2]), torch.tensor([3, 4]), torch.tensor([5, 6, 7, 8]), torch.tensor([2, 4, 6])]
    valid = torch.tensor([3, 5, 0, 1])
    test = torch.tensor([1, 6, 3, 4])  # users 0 and 3: a test item seen earlier (repeat consumption)
    return SequenceData(name="toy", num_items=n, item_ids=[str(i) for i in range(n)], users=[f"u{u}" for u in range(4)],
                        train=train, valid_target=valid, test_target=test, max_len=6)


def _brute_ranks(table, data, split, candidates_of):
    out = []
    for u in range(data.num_users):
        seq = data.train[u].tolist() + ([int(data.valid_target[u])] if split == "test" else [])
        target = int((data.test_target if split == "test" else data.valid_target)[u])
        scores = table[seq[-1]]  # the output after the user's last input item
        out.append(sum(1 for i in candidates_of(u, seq, target) if i != target and scores[i] >= scores[target]))
    return out


@pytest.mark.parametrize("split", ["test", "valid"])
def test_full_ranking_ranks_the_target_against_every_item_but_the_users_earlier_ones_ties_against_it(split):
    data = _toy_sequences()
    g = torch.Generator().manual_seed(0)
    table = torch.randint(0, 4, (data.num_items + 1, data.num_items), generator=g).float()  # small integers: many ties
    net = _LastItemScorer(table)
    got = target_ranks(net, data, split, "full").tolist()
    want = _brute_ranks(table, data, split, lambda u, seq, t: [i for i in range(data.num_items) if i not in seq or i == t])
    assert got == want


def test_sampled_ranking_counts_ties_against_the_target_and_never_the_padding():
    data = _toy_sequences()
    g = torch.Generator().manual_seed(1)
    table = torch.randint(0, 3, (data.num_items + 1, data.num_items), generator=g).float()
    table[:, 0] = 100.0  # item 0 beats every target: a padded slot read as item 0 would count
    negatives = torch.tensor([[5, 6, 7], [0, 2, NO_NEGATIVE], [2, 4, 5], [0, NO_NEGATIVE, NO_NEGATIVE]])
    got = target_ranks(_LastItemScorer(table), data, "test", "sampled", negatives).tolist()
    want = _brute_ranks(table, data, "test", lambda u, seq, t: [i for i in negatives[u].tolist() if i != NO_NEGATIVE])
    assert got == want


def test_ties_count_against_the_target_in_both_protocols():
    data = _toy_sequences()
    table = torch.zeros(data.num_items + 1, data.num_items)  # every item ties with every target
    full = target_ranks(_LastItemScorer(table), data, "test", "full").tolist()
    others = [sum(1 for i in range(data.num_items) if i not in data.history("test")[u].tolist() and i != int(data.test_target[u]))
              for u in range(4)]
    assert full == others == [5, 5, 3, 5]  # a repeated target (users 0, 3) is a candidate, not its own competitor
    negatives = torch.tensor([[5, 6, 7], [0, 2, NO_NEGATIVE], [2, 4, 5], [0, NO_NEGATIVE, NO_NEGATIVE]])
    assert target_ranks(_LastItemScorer(table), data, "test", "sampled", negatives).tolist() == [3, 2, 3, 1]


def test_sampled_negatives_draw_each_unseen_item_with_equal_probability():
    from mmdistill.modalities.sequences.train import sample_negatives

    users = 300  # every user saw items 0, 1, 2 and draws 2 of the unseen 3, 4, 5: each with probability 2/3
    data = SequenceData(name="u", num_items=6, item_ids=[str(i) for i in range(6)], users=[f"u{u}" for u in range(users)],
                        train=[torch.tensor([0])] * users, valid_target=torch.ones(users, dtype=torch.long),
                        test_target=torch.full((users,), 2), max_len=3)
    counts = Counter(sample_negatives(data, 2, seed=0).flatten().tolist())
    assert set(counts) == {3, 4, 5} and all(170 <= counts[i] <= 230 for i in (3, 4, 5))  # 200 +- 3.7 std


def test_kcore_iterate_leaves_every_user_and_item_with_enough_interactions():
    # items b and c are rare: removing them drops u2 below 3 interactions, which leaves a's count at 2 ...
    rows = [("u1", "a", 1), ("u1", "x", 2), ("u1", "y", 3), ("u1", "z", 4),
            ("u2", "a", 1), ("u2", "b", 2), ("u2", "c", 3), ("u2", "x", 4),
            ("u3", "a", 1), ("u3", "x", 2), ("u3", "y", 3), ("u3", "z", 4), ("u4", "y", 1), ("u4", "z", 2), ("u4", "x", 3)]
    rows = [(u, i, str(t)) for u, i, t in rows]
    opts = SequenceLoadOptions(max_len=5, min_user_inter=3, min_item_inter=3, kcore="iterate")
    d = build_sequences("k", rows, opts)
    seqs = {d.users[u]: [d.item_ids[i] for i in d.train[u].tolist() + [int(d.valid_target[u]), int(d.test_target[u])]]
            for u in range(d.num_users)}
    # brute force k-core: drop users/items below the thresholds until nothing changes
    log = [(u, i) for u, i, _ in rows]
    while True:
        uc, ic = Counter(u for u, _ in log), Counter(i for _, i in log)
        kept = [(u, i) for u, i in log if uc[u] >= 3 and ic[i] >= 3]
        if kept == log:
            break
        log = kept
    assert sorted(seqs) == sorted({u for u, _ in log})
    assert Counter(i for s in seqs.values() for i in s) == Counter(i for _, i in log)
    assert all(c >= 3 for c in Counter(i for s in seqs.values() for i in s).values())


def test_items_are_numbered_in_order_of_first_appearance_not_by_their_ids():
    # file order (a, z, m, q) differs from both the id order (a, m, q, z) and the time order (z, m, a, q)
    rows = [("u1", "a", "3"), ("u1", "z", "1"), ("u1", "m", "2"), ("u2", "q", "2"), ("u2", "a", "1"), ("u2", "z", "3")]
    d = build_sequences("r", rows, SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1))
    assert d.item_ids == ["z", "m", "a", "q"]
    u1 = d.users.index("u1")
    assert [d.item_ids[i] for i in d.train[u1].tolist()] == ["z"] and d.item_ids[int(d.test_target[u1])] == "a"


def test_windows_hold_every_training_transition_once_with_its_context():
    train = [torch.arange(11), torch.tensor([3, 1, 4, 1, 5]), torch.tensor([2, 7])]
    d = SequenceData(name="w", num_items=12, item_ids=[str(i) for i in range(12)], users=["a", "b", "c"], train=train,
                     valid_target=torch.zeros(3, dtype=torch.long), test_target=torch.zeros(3, dtype=torch.long), max_len=3)
    x, y = d.windows()
    got = Counter()
    for w in range(x.shape[0]):
        for p in range(3):
            if int(y[w, p]) != d.pad:
                got[(tuple(x[w, : p + 1].tolist()), int(y[w, p]))] += 1
    assert Counter(t for _, t in got) == Counter(t for s in train for t in s.tolist()[1:])  # every target once
    pairs = Counter((c[-1], t) for c, t in got)
    assert pairs == Counter((a, b) for s in train for a, b in zip(s.tolist(), s.tolist()[1:]))  # every transition once
    for ctx, t in got:  # each context is the items right before its target in the user's sequence
        assert any(s.tolist()[j - len(ctx) : j] == list(ctx) and s.tolist()[j] == t
                   for s in train for j in range(len(ctx), len(s)))


def _sasrec(num_items=7, max_len=6, heads=1, hidden=8):
    torch.manual_seed(0)
    net = SASRec(num_items, max_len, hidden=hidden, inner=16, heads=heads, hidden_dropout=0.0, attn_dropout=0.0)
    net.init_weights(torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in net.parameters():  # weights away from RecBole's tiny init so every term matters
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.3)
    return net.eval()


def test_summary_loss_is_the_mean_of_the_next_position_kl_at_the_end_and_at_the_drawn_position():
    net = _sasrec()
    g = torch.Generator().manual_seed(0)
    dist = torch.randn(3, 6, 7, generator=g).softmax(-1)
    pos = torch.tensor([5, 2, 3])
    full = net.encode(net.embed_dist(dist))  # causal: output p has read positions 0..p and predicts p + 1
    logp = torch.log_softmax(net.logits(full), -1)

    def kl(p, logq):
        return float((p * (torch.log(p) - logq)).sum().detach())

    want = sum(kl(dist[b, 5], logp[b, 4]) + kl(dist[b, int(pos[b])], logp[b, int(pos[b]) - 1]) for b in range(3)) / 3 / 2
    assert float(summary_loss(net, dist, pos).detach()) == pytest.approx(want, rel=1e-4)


def test_tucker_logits_are_the_core_contracted_with_the_three_factors():
    g = torch.Generator().manual_seed(0)
    u, t, core, v = (torch.randn(2, 3, generator=g), torch.randn(4, 2, generator=g), torch.randn(3, 2, 5, generator=g),
                     torch.randn(6, 5, generator=g))
    syn = SyntheticSet(data={"U": u, "T": t, "G": core, "V": v}, labels=torch.zeros(2, dtype=torch.long), num_classes=1)
    got = summary_logits(syn)
    want = torch.zeros(2, 4, 6)
    for a in range(2):
        for b in range(4):
            for c in range(6):
                want[a, b, c] = sum(core[i, j, k] * u[a, i] * t[b, j] * v[c, k]
                                    for i in range(3) for j in range(2) for k in range(5))
    assert torch.allclose(got, want, atol=1e-4)


def test_sasrec_positions_count_from_the_first_item_so_a_prefix_gives_the_first_outputs():
    net = _sasrec(max_len=6)
    x = torch.tensor([[1, 4, 2, 6, 0, 3]])
    whole = net.encode(net.embed_ids(x))
    prefix = net.encode(net.embed_ids(x[:, :4]))
    assert torch.allclose(prefix, whole[:, :4], atol=1e-5)


def test_sasrec_attention_is_scaled_dot_product_attention_per_head():
    net = _sasrec(heads=2, hidden=8)
    block = net.blocks[0]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 8, generator=g)
    causal = torch.ones(5, 5, dtype=torch.bool).tril()

    def heads(t):
        return t.view(2, 5, 2, 4).transpose(1, 2)

    ctx = torch.nn.functional.scaled_dot_product_attention(heads(block.query(x)), heads(block.key(x)), heads(block.value(x)),
                                                           attn_mask=causal)  # PyTorch's own 1/sqrt(head size)
    h = block.ln1(block.dense(ctx.transpose(1, 2).reshape(2, 5, 8)) + x)
    want = block.ln2(block.ff2(torch.nn.functional.gelu(block.ff1(h))) + h)
    got = block(x, torch.ones(5, 5, dtype=torch.bool).triu(1))
    assert torch.allclose(got, want, atol=1e-5)


def test_one_hot_baseline_sequences_end_with_the_users_last_item_at_the_last_position():
    data = _toy_sequences()
    out = one_hot_sequences(data, [1, 2], 3)
    assert out[0, 0].sum() == 0 and int(out[0, 1].argmax()) == 3 and int(out[0, 2].argmax()) == 4  # [pad, 3, 4]
    assert [int(out[1, p].argmax()) for p in range(3)] == [6, 7, 8]  # the last 3 of [5, 6, 7, 8]
    assert torch.equal(out.sum(-1), torch.tensor([[0.0, 1, 1], [1, 1, 1]]))


def _matcher_stub(**cfg) -> MetaMatcher:
    m = object.__new__(MetaMatcher)
    m.cfg = SimpleNamespace(**cfg)
    return m


def test_cosine_schedule_of_the_summary_rate_falls_from_seq_lr_to_zero():
    m = _matcher_stub(cosine=True)
    m.base_lr, m.iterations = 0.4, 10
    lrs = []
    for it in (0, 5, 10):
        m.start_iteration(it)
        lrs.append(m.lr_now)
    assert lrs == pytest.approx([0.4, 0.2, 0.0], abs=1e-12)


def test_curriculum_is_drawn_uniformly_from_min_window_to_inner_steps_minus_window_inclusive(monkeypatch):
    m = _matcher_stub(inner_steps=8, window=3, min_window=1)
    m.fresh = lambda gen: (None, {})
    m.unroll = lambda syn, module, params, gen, curriculum, window: params
    m.outer_loss = lambda module, params, gen: (torch.zeros(()), torch.zeros(()), torch.zeros(()))
    seen = Counter(m.outer(None, torch.Generator().manual_seed(s))[3] for s in range(300))
    assert set(seen) == {1, 2, 3, 4, 5} and min(seen.values()) > 30


def test_td3_outer_loss_is_next_item_cross_entropy_plus_weighted_feature_alignment_to_the_teacher():
    from mmdistill.modalities.sequences.train import LossModule

    data = _toy_sequences()
    m = _matcher_stub(batch_real=1000, align_weight=0.7)
    m.device = torch.device("cpu")
    m.x_real, m.y_real = data.windows(length=4)
    m.targets = (m.y_real != data.pad).nonzero()
    teacher, student = _sasrec(num_items=9, max_len=6), _sasrec(num_items=9, max_len=6)
    with torch.no_grad():
        for p in student.parameters():
            p.add_(0.1)
    m.teacher = teacher
    params = {f"learner.{n}": p for n, p in student.named_parameters()}
    with torch.no_grad():
        total, real, align = m.outer_loss(LossModule(student), params, torch.Generator().manual_seed(0))
        valid = m.y_real != data.pad  # batch_real covers every transition
        h_s, h_t = student.encode(student.embed_ids(m.x_real))[valid], teacher.encode(teacher.embed_ids(m.x_real))[valid]
        logp = torch.log_softmax(student.logits(h_s), -1)
        want_real = -float(logp[torch.arange(len(logp)), m.y_real[valid]].mean())
        want_align = float(((h_s - h_t) ** 2).mean())
    assert float(real) == pytest.approx(want_real, rel=1e-5) and float(align) == pytest.approx(want_align, rel=1e-5)
    assert float(total) == pytest.approx(want_real + 0.7 * want_align, rel=1e-5) and want_align > 0


def test_rat_bptt_window_continues_the_curriculums_adam_steps():
    from mmdistill.modalities.sequences.train import LossModule

    m = _matcher_stub(net_lr=0.05, net_weight_decay=0.0, learner_batch=2, freeze_embedding=False)
    m.start, m.device = None, torch.device("cpu")
    g = torch.Generator().manual_seed(0)
    syn = SyntheticSet(data={"Z": torch.randn(3, 6, 4, generator=g), "D": torch.randn(4, 7, generator=g)},
                       labels=torch.zeros(3, dtype=torch.long), num_classes=1)
    net = _sasrec(num_items=7, max_len=6)
    params = {f"learner.{n}": p.detach().clone() for n, p in net.named_parameters()}
    split = m.unroll(syn, LossModule(net), params, torch.Generator().manual_seed(1), curriculum=2, window=2)
    plain = m.unroll(syn, LossModule(net), params, torch.Generator().manual_seed(1), curriculum=4, window=0)
    # the same four Adam steps whether or not the last two are differentiated (bias correction at t = 3, 4)
    assert all(torch.allclose(split[k].detach(), plain[k], atol=1e-6) for k in params)
    assert not torch.allclose(plain["learner.blocks.0.query.weight"], params["learner.blocks.0.query.weight"])


# ============================================================================================== image-text
def test_soft_infonce_reads_the_targets_by_row_and_by_column():
    from mmdistill.modalities.image_text.task import ContrastiveTask

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 4, generator=g)
    targets = torch.rand(4, 4, generator=g)  # not symmetric, as a learned LoRS matrix
    i2t = -sum(float(targets[i, j]) * math.log(math.exp(logits[i, j]) / sum(math.exp(logits[i, q]) for q in range(4)))
               for i in range(4) for j in range(4)) / 4
    t2i = -sum(float(targets[i, j]) * math.log(math.exp(logits[i, j]) / sum(math.exp(logits[q, j]) for q in range(4)))
               for i in range(4) for j in range(4)) / 4
    assert float(ContrastiveTask("infonce").loss(logits, targets)) == pytest.approx((i2t + t2i) / 2, rel=1e-5)


def test_lors_similarity_is_the_diagonal_plus_alpha_over_rank_times_left_right_transposed():
    from mmdistill.modalities.image_text.adapter import similarity_matrix

    g = torch.Generator().manual_seed(0)
    a, left, right = torch.rand(4, generator=g), torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    syn = SyntheticSet(data={"sim_diag": a, "sim_left": left, "sim_right": right}, labels=torch.zeros(4, dtype=torch.long),
                       num_classes=1, meta={"sim_alpha": 2.0})
    want = torch.tensor([[float(a[i]) * (i == j) + 2.0 / 3 * sum(float(left[i, q] * right[j, q]) for q in range(3))
                          for j in range(4)] for i in range(4)])
    assert torch.allclose(similarity_matrix(syn), want, atol=1e-5)


def test_dual_encoder_logits_are_cosine_similarities_over_the_temperature():
    from mmdistill.modalities.image_text.model import DualEncoder

    torch.manual_seed(0)
    net = DualEncoder(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4)), 4, 5, temperature=0.07).eval()
    images, text = torch.randn(3, 3, 2, 2), torch.randn(2, 5)
    with torch.no_grad():
        img, txt = net.image_encoder(images), net.text_projection(text)
        cos = [[float(img[i] @ txt[j] / (img[i].norm() * txt[j].norm())) for j in range(2)] for i in range(3)]
        want = torch.tensor(cos) / 0.07
        assert torch.allclose(net(images, text), want, atol=1e-4)


def _pair_split(num_images=6, per_image=2, seed=0):
    from mmdistill.modalities.image_text.data import PairSplit

    g = torch.Generator().manual_seed(seed)
    cap_img = torch.arange(num_images).repeat_interleave(per_image)
    return PairSplit(images=torch.randn(num_images, 3, 1, 1, generator=g), image_ids=[f"i{i}" for i in range(num_images)],
                     captions=[f"c{c}" for c in range(len(cap_img))], caption_image=cap_img,
                     text=torch.randn(len(cap_img), 3, generator=g))


class _FlatEncoder(torch.nn.Module):
    """A pair encoder stub: an image's embedding is its 3 pixels, a caption's its 3-d text, both unit length."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def encode_image(self, images):
        return torch.nn.functional.normalize(images.flatten(1), dim=-1)

    def encode_text(self, text):
        return torch.nn.functional.normalize(text, dim=-1)


def test_herding_pairs_keep_the_caption_best_aligned_with_each_picked_image():
    from mmdistill.modalities.image_text.evaluation import herding_pairs

    split = _pair_split(num_images=6, per_image=3)
    caps = herding_pairs(split, 4, _FlatEncoder())
    img = torch.nn.functional.normalize(split.images.flatten(1), dim=-1)
    txt = torch.nn.functional.normalize(split.text, dim=-1)
    images = split.caption_image[caps].tolist()
    assert len(set(images)) == 4
    for c, i in zip(caps.tolist(), images):
        own = [q for q in range(split.num_pairs) if int(split.caption_image[q]) == i]
        assert c == max(own, key=lambda q: float(txt[q] @ img[i]))


# ============================================================================================== graph
def test_dense_propagation_of_a_directed_graph_equals_the_sparse_one():
    pytest.importorskip("torch_geometric")
    from mmdistill.modalities.graph.data import Graph

    g = torch.Generator().manual_seed(0)
    a = torch.rand(7, 7, generator=g) * (torch.rand(7, 7, generator=g) < 0.4) * (1 - torch.eye(7))  # one-way edges
    x = torch.randn(7, 3, generator=g)
    idx = a.nonzero().t()
    dense, sparse = Graph(x, adj=a), Graph(x, idx, a[idx[0], idx[1]])
    for kind in ("gcn", "mean", "cheb"):
        assert torch.allclose(dense.operator(kind), sparse.operator(kind).to_dense(), atol=1e-6), kind
    # GCN: target i aggregates its in-edges j -> i, D the in-degree + 1 (PyG's gcn_norm)
    deg = a.sum(0) + 1
    want = torch.diag(deg.rsqrt()) @ (a.t() + torch.eye(7)) @ torch.diag(deg.rsqrt())
    assert torch.allclose(dense.operator("gcn"), want, atol=1e-6)


def test_appnp_propagation_is_pygs_appnp():
    pytest.importorskip("torch_geometric")
    from torch_geometric.nn import APPNP

    from mmdistill.modalities.graph.data import Graph
    from mmdistill.modalities.graph.datasets import make_sbm
    from mmdistill.modalities.graph.nets import build_graph_network

    raw = make_sbm(40, 2, 4, seed=0)
    graph = Graph(raw["x"], raw["edge_index"])
    torch.manual_seed(0)
    net = build_graph_network("appnp", 4, 2, hidden=5).eval()
    h = net.lin2(torch.relu(net.lin1(graph.x)))
    assert torch.allclose(net(graph), APPNP(K=net.k, alpha=net.alpha)(h, raw["edge_index"]), atol=1e-5)


def test_sbm_blocks_are_denser_inside_and_the_split_takes_20_training_nodes_per_class():
    pytest.importorskip("torch_geometric")
    from mmdistill.modalities.graph.datasets import make_sbm

    raw = make_sbm(300, 3, 4, seed=0)
    y, (src, dst) = raw["y"], raw["edge_index"]
    same = int((y[src] == y[dst]).sum())
    sizes = torch.bincount(y).tolist()
    inside_pairs = sum(s * (s - 1) for s in sizes)
    across_pairs = 300 * 299 - inside_pairs
    assert same / inside_pairs > 3 * (len(src) - same) / across_pairs  # p_in 0.03 against p_out 0.004
    assert torch.bincount(y[raw["train_mask"]], minlength=3).tolist() == [20, 20, 20]
    assert not (raw["train_mask"] & (raw["val_mask"] | raw["test_mask"])).any() and int(raw["val_mask"].sum()) == 30


def test_graph_accuracy_is_the_share_of_the_given_nodes_predicted_right():
    from mmdistill.modalities.graph.data import Graph
    from mmdistill.modalities.graph.train import accuracy

    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])

    class Fixed(torch.nn.Module):
        def forward(self, graph):
            return logits

    graph = Graph(torch.zeros(5, 1), adj=torch.zeros(5, 5))
    nodes, labels = torch.tensor([4, 3, 1]), torch.tensor([0, 0, 1])  # node 4 right, 3 wrong, 1 right
    assert accuracy(Fixed(), graph, nodes, labels) == pytest.approx(2 / 3)


def test_standard_feature_statistics_are_the_training_nodes_population_mean_and_std():
    from mmdistill.modalities.graph.datasets import normalize_features

    x = torch.tensor([[1.0, 5.0], [3.0, 5.0], [100.0, -7.0], [2.0, 5.0]])
    train = torch.tensor([0, 1, 3])
    mean = [2.0, 5.0]
    std = [math.sqrt(((1 - 2) ** 2 + (3 - 2) ** 2 + 0) / 3), 1.0]  # population std; a constant feature's std is 1
    want = torch.tensor([[(v - mean[f]) / std[f] for f, v in enumerate(row)] for row in x.tolist()])
    assert torch.allclose(normalize_features(x, "standard", train), want, atol=1e-6)


# ============================================================================================== video
def test_frame_indices_centre_random_and_shrunk_gap_follow_the_documented_rule():
    from mmdistill.modalities.video.datasets import FrameSampling

    centre = FrameSampling(num_frames=3, frame_gap=2, offset="center", frame_size=None)
    assert centre.indices(10, "a")[0] == [2, 4, 6]  # span 5, room 5: start 5 // 2
    shrunk = FrameSampling(num_frames=4, frame_gap=4, offset="center", frame_size=None)
    assert shrunk.indices(9, "a") == ([1, 3, 5, 7], "gap")  # gap 9 // 4 = 2, span 7, room 2: start 1
    rand = FrameSampling(num_frames=3, frame_gap=2, offset="random", frame_size=None)
    starts = Counter(rand.indices(8, f"clip{i}")[0][0] for i in range(200))  # span 5, room 3: starts 0..3
    assert set(starts) == {0, 1, 2, 3} and min(starts.values()) > 25


def test_render_upsamples_the_dynamic_memory_trilinearly_over_time():
    from mmdistill.modalities.video.static_dynamic import render

    weight = torch.zeros(1, 2, 3, 3, 3)
    weight[0, 1, 1, 1, 1] = 1.0  # the output is the upsampled dynamic channel
    syn = SyntheticSet(data={"static": torch.randn(1, 1, 1, 1), "dynamic": torch.tensor([1.0, 5.0]).view(1, 1, 2, 1, 1),
                             "integrator.weight": weight, "integrator.bias": torch.zeros(1)},
                       labels=torch.zeros(1, dtype=torch.long), num_classes=1,
                       meta={"static_dynamic": {"memories": 1, "clip_shape": [1, 4, 1, 1], "frozen_static": True}})
    # half-pixel centres: output frame t reads source position (t + 0.5) / 2 - 0.5, clamped to [0, 1]
    assert torch.allclose(render(syn).flatten(), torch.tensor([1.0, 2.0, 4.0, 5.0]))


# ============================================================================================== recipes
def _lr_of(opt, tensor):
    return next(g["lr"] for g in opt.param_groups if any(p is tensor for p in g["params"]))


def test_graph_optimizer_steps_features_at_lr_feat_and_the_generator_at_lr_adj():
    from mmdistill.modalities.graph.pge import init_pge
    from mmdistill.recipes._graph import make_graph_optimizer

    data = {"x": torch.zeros(4, 3, requires_grad=True), **init_pge(3, 5, 2, torch.Generator().manual_seed(0))}
    syn = SyntheticSet(data=data, labels=torch.zeros(4, dtype=torch.long), num_classes=1)
    opt = make_graph_optimizer(syn, SimpleNamespace(lr_feat=0.1, lr_adj=0.2))
    assert _lr_of(opt, data["x"]) == 0.1 and all(_lr_of(opt, v) == 0.2 for k, v in data.items() if k != "x")


def test_image_text_optimizer_steps_lors_factors_at_lr_sim_and_text_at_lr_text():
    from mmdistill.recipes._image_text import image_text_optimizer

    data = {"images": torch.zeros(2, 3, 4, 4), "text": torch.zeros(2, 5), "sim_diag": torch.ones(2),
            "sim_left": torch.zeros(2, 1), "sim_right": torch.zeros(2, 1)}
    syn = SyntheticSet(data=data, labels=torch.zeros(2, dtype=torch.long), num_classes=1)
    opt = image_text_optimizer(syn, SimpleNamespace(lr_data=100.0, lr_text=0.5, lr_sim=7.0, momentum_data=0.5))
    assert _lr_of(opt, data["images"]) == 100.0 and _lr_of(opt, data["text"]) == 0.5
    assert [_lr_of(opt, data[k]) for k in ("sim_diag", "sim_left", "sim_right")] == [7.0, 7.0, 7.0]


# ============================================================================================== audio-visual
def test_fused_probabilities_are_the_mean_of_the_two_softmaxes():
    from mmdistill.modalities.audio_visual.nets import AVPair

    a, v = torch.tensor([[2.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 6.0]])
    soft = [[math.exp(x) / sum(math.exp(y) for y in row) for x in row] for row in (a[0].tolist(), v[0].tolist())]
    want = torch.tensor([[(p + q) / 2 for p, q in zip(*soft)]])
    assert torch.allclose(AVPair.fused_probabilities(a, v), want, atol=1e-6)


def test_score_pairs_counts_fused_audio_and_visual_hits_over_chunks():
    from mmdistill.modalities.audio_visual.data import AVPairs
    from mmdistill.modalities.audio_visual.evaluate import score_pairs
    from mmdistill.modalities.audio_visual.nets import AVPair

    out_a = torch.tensor([[3.0, 0.0], [0.0, 3.0], [3.0, 0.0], [0.1, 0.0], [0.1, 0.0]])
    out_v = torch.tensor([[0.0, 0.1], [0.0, 3.0], [0.0, 2.0], [0.0, 3.0], [3.0, 0.0]])

    class Fixed(AVPair):
        def __init__(self):
            torch.nn.Module.__init__(self)
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, a, v):
            idx = a.flatten(1)[:, 0].long()
            return out_a[idx], out_v[idx]

    test = AVPairs(audio=torch.arange(5.0).view(5, 1, 1, 1), image=torch.zeros(5, 1, 1, 1), y=torch.tensor([0, 1, 0, 0, 1]))
    got = score_pairs(Fixed(), test, torch.device("cpu"), chunk=2)
    # audio right on 0, 1, 2, 3; visual right on 1; fused (mean of softmaxes) right on 0, 1, 2
    assert got == pytest.approx({"accuracy": 3 / 5, "audio_accuracy": 4 / 5, "visual_accuracy": 1 / 5})


def test_av_matching_loss_weighs_each_term_by_its_own_lambda_over_class_means():
    from mmdistill.modalities.audio_visual.matching import av_matching_loss

    g = torch.Generator().manual_seed(0)
    ra, rv, sa, sv = (torch.randn(n, 2, generator=g) for n in (4, 4, 2, 2))
    y_real, y_syn = torch.tensor([0, 1, 0, 1]), torch.tensor([0, 1])

    def mean(e, y, c):
        rows = [e[i] for i in range(len(y)) if int(y[i]) == c]
        return sum(rows) / len(rows)

    dm_a = dm_v = icm = cgm = 0.0
    for c in (0, 1):
        mra, mrv, msa, msv = mean(ra, y_real, c), mean(rv, y_real, c), mean(sa, y_syn, c), mean(sv, y_syn, c)
        dm_a += float(((mra - msa) ** 2).sum())
        dm_v += float(((mrv - msv) ** 2).sum())
        icm += float((((mra + mrv) - (msa + msv)) ** 2).sum())
        cgm += float((((msv - msa) - (mrv - mra)) ** 2).sum())  # the synthetic gap kept at the real gap
    total, parts = av_matching_loss(ra, rv, y_real, sa, sv, y_syn, 2, lam_icm=0.3, lam_cgm=0.7)
    assert float(total) == pytest.approx(dm_a + dm_v + 0.3 * icm + 0.7 * cgm, rel=1e-5)
    assert parts == pytest.approx({"dm_audio": dm_a / 2, "dm_image": dm_v / 2, "icm": icm / 2, "cgm": cgm / 2}, rel=1e-5)


# ----------------------------------------------------------------------------- degenerate scores (session 46)
@pytest.mark.parametrize("value", [0.0, float("nan")], ids=["collapsed", "diverged"])
def test_retrieval_of_a_collapsed_or_diverged_encoder_is_the_random_ranking_level(value, caplog):
    """All similarities equal (an encoder that collapsed: unit-normalised zero embeddings) or NaN (one that diverged):
    the recalls of a random order, worked out by hand and by the card's random-ranking line (both scored 100 % before:
    ties counted for the query, NaN compares false)."""
    from mmdistill.modalities.image_text.task import retrieval_recalls
    from mmdistill.report import retrieval_chance

    cap_img = torch.arange(40) // 2  # 20 images of 2 captions
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        r = retrieval_recalls(torch.full((20, 40), value), cap_img)
    assert r["t2i_r1"] == pytest.approx(1 / 20) and r["t2i_r10"] == pytest.approx(10 / 20)
    assert r["i2t_r1"] == pytest.approx(2 / 40) and r["i2t_r10"] == pytest.approx(1 - math.comb(38, 10) / math.comb(40, 10))
    chance = retrieval_chance({"metric": "R@10 (mean of both directions)", "protocol": {"test_images": 20, "test_captions": 40}})
    assert r["r10_mean"] == pytest.approx(chance)
    assert ("800 of 800 image-text similarities are not finite" in caplog.text) == (value != value)


def test_a_caption_repeated_word_for_word_is_half_a_hit_at_the_edge_of_the_top_k():
    """Two images whose captions are the same text: each image's caption ties with the other's; a random order puts its
    own first half the time (the expectation over orders); a third caption strictly above leaves no place at k=1."""
    from mmdistill.modalities.image_text.task import retrieval_recalls

    sims = torch.tensor([[0.9, 0.9, 0.1], [0.2, 0.2, 0.8], [0.3, 0.95, 0.9]])  # captions 0 and 1 the same text
    r = retrieval_recalls(sims, torch.tensor([0, 1, 2]), ks=(1, 2))
    # i2t: image 0: its 0.9 ties with caption 1 -> 1/2 at k=1, 1 at k=2; image 1: 0.2 below 0.8 and tied with caption 0 ->
    # 0 at k=1, 1/2 at k=2; image 2: caption 1 above its 0.9 -> 0 at k=1, 1 at k=2
    assert r["i2t_r1"] == pytest.approx((0.5 + 0 + 0) / 3) and r["i2t_r2"] == pytest.approx((1 + 0.5 + 1) / 3)


def test_a_non_finite_similarity_ranks_below_every_finite_one():
    from mmdistill.modalities.image_text.task import retrieval_recalls

    cap_img = torch.tensor([0, 1, 2])
    nan_own = torch.eye(3)  # every query's own candidate first, but image 1 / caption 1's similarity is NaN
    nan_own[1, 1] = float("nan")
    r = retrieval_recalls(nan_own, cap_img, ks=(1, 3))
    assert r["i2t_r1"] == pytest.approx(2 / 3) and r["t2i_r1"] == pytest.approx(2 / 3)  # it was a hit both ways
    assert r["i2t_r3"] == 1.0 and r["t2i_r3"] == 1.0  # ranked last of 3, not dropped
    inf_other = torch.eye(3)
    inf_other[0, 2] = float("inf")  # an infinite negative is no finite score above image 0's and caption 2's own
    r = retrieval_recalls(inf_other, cap_img, ks=(1,))
    assert r["i2t_r1"] == 1.0 and r["t2i_r1"] == 1.0


def test_a_learner_that_diverged_ranks_every_target_last_in_both_protocols(caplog):
    """NaN item scores (a learner trained to NaN): every other candidate ranks above the target; HR and NDCG are 0
    (a NaN target score was ranked -1 under full ranking: HR 100 % and an infinite NDCG)."""
    data = _toy_sequences()
    table = torch.full((data.num_items + 1, data.num_items), float("nan"))
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        full = target_ranks(_LastItemScorer(table), data, "test", "full")
    assert full.tolist() == [5, 5, 3, 5] and "test item scores are not finite" in caplog.text  # as when all tie
    metrics = metrics_from_ranks(full)
    assert metrics["hr@5"] == pytest.approx(1 / 4) and all(math.isfinite(v) for v in metrics.values()), metrics
    negatives = torch.tensor([[5, 6, 7], [0, 2, NO_NEGATIVE], [2, 4, 5], [0, NO_NEGATIVE, NO_NEGATIVE]])
    assert target_ranks(_LastItemScorer(table), data, "test", "sampled", negatives).tolist() == [3, 2, 3, 1]
    table = torch.zeros(data.num_items + 1, data.num_items)
    table[:, 8] = float("nan")  # one item's score NaN everywhere: it no longer outranks or ties with any target
    assert target_ranks(_LastItemScorer(table), data, "test", "full").tolist() == [4, 4, 3, 4]


def test_a_diverged_learner_scored_in_batches_of_users_warns_once(caplog):
    data = _toy_sequences()
    table = torch.full((data.num_items + 1, data.num_items), float("nan"))
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        target_ranks(_LastItemScorer(table), data, "test", "full", batch=1)
    said = [r.getMessage() for r in caplog.records if "not finite" in r.getMessage()]
    assert said == [f"{4 * data.num_items} of {4 * data.num_items} test item scores are not finite (a network that "
                    "diverged gives them): they rank below every finite score, never as retrieved"], said
