"""Walk 53A: ZCA whitening as MTT whitens CIFAR-10/100 (``--zca``: kornia's ``ZCAWhitening(eps=0.1)`` fitted on the
training images). Before, mmdistill had none: MTT's CIFAR rows ran on merely normalised images."""

from __future__ import annotations

import pytest
import torch

from mmdistill.errors import ArtifactError, DataError


def _direct(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """kornia's zca_mean written out once more, with an SVD in float64: mean (D,), T (D, D), T_inv (D, D)."""
    flat = x.reshape(x.shape[0], -1).double()
    mean = flat.mean(0)
    c = flat - mean
    cov = c.T @ c / (flat.shape[0] - 1)
    u, s, _ = torch.linalg.svd(cov)
    return mean, u @ torch.diag((s + eps).rsqrt()) @ u.T, u @ torch.diag((s + eps).sqrt()) @ u.T


def test_fit_is_the_references_formula_and_whitens_the_training_data():
    from mmdistill.modalities.image.zca import ZCA_EPS, fit_zca

    gen = torch.Generator().manual_seed(0)
    mix = torch.randn(12, 12, generator=gen)
    x = (torch.randn(200, 12, generator=gen) @ mix).reshape(200, 3, 2, 2) + 0.5  # correlated features
    fit = fit_zca(x, eps=1e-6)
    mean, t, t_inv = _direct(x, 1e-6)
    assert torch.allclose(fit.mean.double(), mean, atol=1e-5)
    assert torch.allclose(fit.matrix.double(), t, atol=1e-4 * t.abs().max())
    assert torch.allclose(fit.inverse.double(), t_inv, atol=1e-4 * t_inv.abs().max())
    z = fit.whiten(x)
    assert z.shape == x.shape and z.dtype == x.dtype
    flat = z.reshape(200, -1).double()
    cov = (flat - flat.mean(0)).T @ (flat - flat.mean(0)) / 199
    assert torch.allclose(cov, torch.eye(12, dtype=torch.float64), atol=1e-3)  # identity up to eps
    assert torch.allclose(fit.unwhiten(z), x, atol=1e-4)
    assert ZCA_EPS == 0.1  # MTT's K.enhance.ZCAWhitening(eps=0.1)
    reg = fit_zca(x)  # eps shrinks each eigen-direction's variance to S / (S + eps)
    s = torch.linalg.eigvalsh(torch.cov(x.reshape(200, -1).T.double()))
    zc = torch.linalg.eigvalsh(torch.cov(reg.whiten(x).reshape(200, -1).T.double()))
    assert torch.allclose(zc, s / (s + 0.1), atol=1e-4)


def test_fit_round_trips_its_tensors_and_refuses_other_shapes():
    from mmdistill.modalities.image.zca import ZCAWhitening, fit_zca

    x = torch.rand(10, 1, 2, 3, generator=torch.Generator().manual_seed(1))
    fit = fit_zca(x)
    back = ZCAWhitening.from_tensors(fit.tensors(), fit.eps, "set/zca.safetensors")
    assert torch.equal(back.whiten(x), fit.whiten(x))
    with pytest.raises(DataError, match="fitted on samples of 6 values"):
        fit.whiten(torch.rand(2, 1, 3, 3))
    with pytest.raises(ArtifactError, match="zca.safetensors: the ZCA whitening has no tensor zca_inverse"):
        ZCAWhitening.from_tensors({k: v for k, v in fit.tensors().items() if k != "zca_inverse"}, 0.1, "set/zca.safetensors")
    with pytest.raises(DataError, match="at least 2 training samples"):
        fit_zca(x[:1])
