"""The memorisation check when the real data repeats samples (a user's folder with duplicate files): its yardstick is
each real sample's nearest *different* real sample, and a synthetic sample equal to a real one is always counted."""

from __future__ import annotations

import torch

from mmdistill.memorisation import MemorisationViews, check, nearest, nearest_different, summary_lines, verdict


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
