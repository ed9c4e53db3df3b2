"""The memorisation check when the real data repeats samples (a user's folder with duplicate files): its yardstick is
each real sample's nearest *different* real sample, and a synthetic sample equal to a real one is always counted."""

from __future__ import annotations

import torch

from mmdistill.memorisation import MemorisationViews, candidate_margins, check, nearest, nearest_different, summary_lines, verdict


def test_duplicate_real_samples_do_not_hide_an_exact_copy():
    """Before: three duplicated real images set the real-real minimum to 0, so a synthetic copy (distance 0) was
    not 'closer than any real pair' and the card said '0 %' and 'no closer to real samples than real samples are to
    each other'; without the duplicates the same copy was flagged."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(40, 12, generator=g)
    real = torch.cat([real, real[:3]])  # three files copied in the folder
    syn = torch.cat([real[5:6], 3.0 * torch.randn(3, 12, generator=g)])  # one exact copy, three far samples
    block = check(MemorisationViews(syn_input=syn, real_input=real))["input"]
    assert block["exact_copies"] == 0.25 and block["random_real"]["min"] > 0
    assert block["frac_below_real_min"] == 0.25
    assert verdict(block).startswith("25 % of the synthetic samples are exact copies of real samples")
    line = summary_lines({"input": block, "input_space": "pixels"})[0]
    assert block["real_duplicates"] > 0  # 42 of the 43 real samples are queried: duplicates among them
    assert "have an identical copy in the real set" in line


def test_nearest_different_skips_equal_rows_and_says_so():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    d, i = nearest(a[:1], a, exclude=torch.tensor([0]))
    assert float(d[0]) == 0.0 and int(i[0]) == 1  # the duplicate
    d, dup = nearest_different(a[:1], a, exclude=torch.tensor([0]))
    assert float(d[0]) == 5.0 and bool(dup[0])  # the nearest different sample, and that a duplicate exists


def test_a_collapsed_set_is_named_as_collapsed_not_as_near_copies():
    """Walk 44E: 20 TD3 summaries collapsed to one near-uniform profile sat nearer their one shared nearest real user
    than real users are to each other, and the card said "100 % ... they are near copies" of a set holding no user."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(60, 16, generator=g)
    centre = real.mean(0, keepdim=True)
    syn = centre + 1e-5 * torch.randn(20, 16, generator=g)
    block = check(MemorisationViews(syn_input=syn, real_input=real))["input"]
    assert block["distinct_nearest_real"] == 1 and block["synthetic_spread"] < 1e-3
    said = verdict(block)
    assert said.startswith("the synthetic samples lie ") and "the set has collapsed to a few points" in said
    copies = torch.cat([real[:4] + 1e-6, 3.0 * torch.randn(4, 16, generator=g)])  # 4 real copies, 4 far samples
    near = verdict(check(MemorisationViews(syn_input=copies, real_input=real))["input"])
    assert near.endswith("another: those are near copies") and "collapsed" not in near


def _direct(query, ref, exclude=None):
    """Every pair's direct distance, as the check computed them before (scale walk 48B)."""
    d = torch.cdist(query.float(), ref.float(), compute_mode="donot_use_mm_for_euclid_dist")
    if exclude is not None:
        d[torch.arange(d.shape[0]), exclude] = float("inf")
    return d


def _awkward(seed: int, n: int = 300, dim: int = 48):
    """Rows with exact duplicates, near duplicates (one value off by an ulp or by 1e-6), ties and a large offset."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(n, dim, generator=g) * (1 + 100 * (seed % 2))
    ref[10:20] = ref[0]  # duplicates
    ref[20] = torch.nextafter(ref[0], ref[0] + 1)  # an ulp away
    ref[21] = ref[1] + 1e-6
    ref[22:25] = ref[2] + torch.tensor([1.0] + [0.0] * (dim - 1))  # ties: three rows at the same distance from row 2's copies
    query = torch.cat([ref[torch.randint(0, n, (40,), generator=g)], torch.randn(40, dim, generator=g)])
    return query, ref


def test_nearest_by_candidates_equals_every_direct_distance():
    """The check's nearest-neighbour distances are the direct float32 ones of every pair, exact copies, duplicates,
    ulp-apart rows and ties included, while only the candidate rows' distances are computed directly."""
    for seed in range(4):
        query, ref = _awkward(seed)
        d = _direct(query, ref)
        m, i = nearest(query, ref)
        assert torch.equal(m, d.min(dim=1).values) and torch.equal(d[torch.arange(len(i)), i], m)
        excl = torch.randint(0, ref.shape[0], (query.shape[0],), generator=torch.Generator().manual_seed(seed))
        de = _direct(query, ref, excl)
        m, i = nearest(query, ref, exclude=excl)
        assert torch.equal(m, de.min(dim=1).values) and not bool((i == excl).any())
        q = torch.arange(0, ref.shape[0], 3)
        dd = _direct(ref[q], ref, q)
        want_dup = (dd == 0).any(dim=1)
        dd[dd == 0] = float("inf")
        got, dup = nearest_different(ref[q], ref, exclude=q)
        assert torch.equal(dup, want_dup) and torch.equal(got, dd.min(dim=1).values)


def test_only_candidate_rows_are_measured_directly(monkeypatch):
    """The direct (slow, exact) distance runs on a few candidate rows per query, not on the whole real pool: it took
    ~20x the matrix product's time and made the check 2.7 min of a run on 16,000 real images (8 min at 40,000 on a
    busy core, the pool capped at 20,000), with nothing shown (scale walk 48B)."""
    measured = []
    real_cdist = torch.cdist

    def counting(a, b, *args, **kw):
        if kw.get("compute_mode") == "donot_use_mm_for_euclid_dist":
            measured.append(a.shape[0] * b.shape[0])
        return real_cdist(a, b, *args, **kw)

    monkeypatch.setattr(torch, "cdist", counting)
    g = torch.Generator().manual_seed(0)
    ref, query = torch.rand(4000, 64, generator=g), torch.rand(50, 64, generator=g)
    nearest(query, ref)
    nearest_different(ref[:50], ref, exclude=torch.arange(50))
    assert sum(measured) < 100 * 4000 // 20


def test_the_real_pool_is_never_copied_whole_into_float64(monkeypatch):
    """Wide rows (a sequence set's item profiles: 20,000 users x 25,000 items, 2 GB in float32) are turned into float64
    a block at a time: a whole-pool float64 copy took a 1M-row log's run to 11.6 GB of peak memory (scale walk 48B)."""
    import mmdistill.memorisation as mem

    largest = []
    real_double = torch.Tensor.double

    def counting(self, *a, **kw):
        largest.append(self.numel())
        return real_double(self, *a, **kw)

    monkeypatch.setattr(torch.Tensor, "double", counting)
    monkeypatch.setattr(mem, "REF_BLOCK_VALUES", 1 << 16)
    g = torch.Generator().manual_seed(0)
    ref, query = torch.rand(600, 1000, generator=g), torch.rand(5, 1000, generator=g)
    m, i = nearest(query, ref)
    assert max(largest) <= 1 << 16 and torch.equal(m, torch.cdist(query, ref, compute_mode="donot_use_mm_for_euclid_dist").min(dim=1).values)


def test_candidate_margins_cover_the_worst_rounding_of_wide_rows():
    """The candidate margin covers the worst-case rounding of the direct float32 squared distance, (D + 2) * 2**-24 of
    it, for every row width the adapters compare: a fixed 2e-3 covered 3,072 values (32x32 RGB) but not image-text's
    224-pixel images (150,528 values, up to 9e-3) or video clips (602,112, up to 3.6e-2), where a row that is nearest
    by the direct distance could have been left out of the candidates."""
    for dim in (64, 3_072, 150_528, 602_112):
        relative, absolute = candidate_margins(dim)
        assert relative >= 2 * (dim + 2) * 2.0**-24 and absolute >= 2 * dim * 2.0**-53
    assert candidate_margins(3_072)[0] == 2e-3  # narrow rows keep the margin the results were measured with


def test_nearest_by_candidates_equals_every_direct_distance_on_wide_rows():
    """Rows of 150,528 values (an image-text image) with near ties: the same distances and indices as every pair's."""
    g = torch.Generator().manual_seed(3)
    base = torch.randn(1, 150_528, generator=g)
    ref = base + 1e-3 * torch.randn(30, 150_528, generator=g)
    query = base + 1e-3 * torch.randn(6, 150_528, generator=g)
    d = _direct(query, ref)
    m, i = nearest(query, ref)
    assert torch.equal(m, d.min(dim=1).values) and torch.equal(i, d.argmin(dim=1))


def test_the_distance_histograms_differ_in_shape_not_only_colour(tmp_path, monkeypatch):
    """The two histograms were a grey and a red filled area, alike in grey print and for red-green colour blindness:
    the real distances are a hatched area, the synthetic ones an outline drawn over it."""
    from types import SimpleNamespace

    from mmdistill import memorisation, plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path: figures.append(fig) or path)
    space = {"distances": [1.0, 1.2, 2.0], "real_distances": [1.5, 1.6, 1.9, 2.2]}
    views = SimpleNamespace(syn_pictures=None, real_pictures=None)
    memorisation.plot({"input": space, "closest": [], "input_space": "flattened model inputs"}, views, tmp_path / "m.png")
    ax = figures[0].axes[0]
    (real,) = ax.containers  # the filled bars; the outline is one polygon
    assert {p.get_hatch() for p in real} != {None} and all(p.get_fill() for p in real)
    assert [p.get_fill() for p in ax.patches if p not in real] == [False]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["random real → nearest other real", "synthetic → nearest real"]


def test_the_closest_pairs_are_the_nearest_synthetic_samples_nearest_first():
    """The block's ``closest`` (what memorisation.png and the card show a reviewer) lists the synthetic samples nearest a
    real one, by distance, not the first samples of the set: here the copies are the set's last two."""
    g = torch.Generator().manual_seed(0)
    real = torch.randn(50, 12, generator=g)
    far = 3.0 * torch.randn(10, 12, generator=g)
    syn = torch.cat([far, real[7:8] + 1e-3, real[3:4]])  # a near copy of real 7, then an exact copy of real 3
    closest = check(MemorisationViews(syn_input=syn, real_input=real))["closest"]
    assert len(closest) == 8 and [c["synthetic"] for c in closest[:2]] == [11, 10]
    assert [c["real_pool_index"] for c in closest[:2]] == [3, 7] and closest[0]["distance"] == 0.0
    distances = [c["distance"] for c in closest]
    assert distances == sorted(distances) and all(c["synthetic"] < 10 for c in closest[2:])
