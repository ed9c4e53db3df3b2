"""Seeds: a seed no 64-bit generator takes is a one-line ConfigError; every seed that worked before draws the same."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ConfigError
from mmdistill.keys import INT64_BOUND, SEED_BOUND
from mmdistill.seeding import seed_everything


@pytest.mark.parametrize("seed", [2**64, 10**30, -(2**63) - 1])
def test_a_seed_beyond_64_bits_is_refused_naming_seed(seed):
    with pytest.raises(ConfigError, match=r"^seed=-?\d+: expected an integer >= -2\^63, at most 2\^64 - 1 \(the largest seed "
                       r"a 64-bit random generator takes\) in size$") as err:
        seed_everything(seed)
    assert err.value.key == "seed"


def test_seed_everything_and_the_config_keys_share_one_bound_and_wording():
    """Review 40C: the seed's range check repeated the keys' int64 bound in other words; both now go through
    keys.check_bound (the seed's own bound is the 64-bit generator's, wider than a config key's int64)."""
    from recipes import image_dm
    with pytest.raises(ConfigError) as by_key:
        image_dm.RECIPE.config(seed=2**64)
    with pytest.raises(ConfigError) as by_call:
        seed_everything(2**64)
    assert str(by_key.value) == "config key seed=18446744073709551616: expected an integer >= 0, at most 2^63 - 1 (int64) in size"
    assert str(by_call.value).replace("-2^63", "0").replace("2^64 - 1 (the largest seed a 64-bit random generator takes)",
                                                            "2^63 - 1 (int64)") == str(by_key.value).removeprefix("config key ")
    assert by_key.value.key == by_call.value.key == "seed"
    assert SEED_BOUND.low == -(INT64_BOUND.high + 1) and SEED_BOUND.high == 2**64 - 1 and INT64_BOUND.high == 2**63 - 1


@pytest.mark.parametrize("seed", [0, 1, 2**63, 2**64 - 1])
def test_seeds_torch_takes_draw_as_before(seed):
    seed_everything(seed)
    ours = torch.rand(3)
    torch.manual_seed(seed)
    assert torch.equal(ours, torch.rand(3))
