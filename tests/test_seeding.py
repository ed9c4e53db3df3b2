"""Seeds: a seed no 64-bit generator takes is a one-line ConfigError; every seed that worked before draws the same."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError
from mmdistill.seeding import seed_everything


@pytest.mark.parametrize("seed", [2**64, 10**30, -(2**63) - 1])
def test_a_seed_beyond_64_bits_is_refused_naming_seed(seed):
    with pytest.raises(ConfigError, match=r"seed=-?\d+: expected an integer in 0..18446744073709551615") as err:
        seed_everything(seed)
    assert err.value.key == "seed"


@pytest.mark.parametrize("seed", [0, 1, 2**63, 2**64 - 1])
def test_seeds_torch_takes_draw_as_before(seed):
    seed_everything(seed)
    ours = torch.rand(3)
    torch.manual_seed(seed)
    assert torch.equal(ours, torch.rand(3))
