"""ZCA whitening of images, as MTT (Cazenavette et al., CVPR 2022) whitens CIFAR-10/100 with ``--zca``.

MTT's ``utils.get_dataset`` fits kornia's ``ZCAWhitening(eps=0.1, compute_inv=True)`` on the training images as
``ToTensor`` gives them -- [0, 1] pixels, *not* normalised by the per-channel mean and std (with ``--zca`` its
transform is ``ToTensor()`` alone) -- and applies that one fit to the training and the test images; its experts and
its synthetic set live in the whitened space and its pictures are the inverse transform's (``images_zca_*.pt``).

The formula (kornia's ``zca_mean`` / ``linear_transform``), for N samples flattened to D = C*H*W features:

* ``mean`` = the per-feature mean of the training samples, (D,);
* ``cov`` = (X - mean)^T (X - mean) / (N - 1) (the unbiased estimate), (D, D);
* ``cov = U diag(S) U^T``; ``matrix = U diag((S + eps)^-1/2) U^T``, ``inverse = U diag((S + eps)^1/2) U^T``;
* whiten(x) = (x - mean) @ matrix; unwhiten(z) = z @ inverse + mean (kornia's inverse_transform: ``mean_inv =
  -mean @ matrix`` and (z - mean_inv) @ inverse, the same map).

kornia takes the SVD of ``cov``; a symmetric positive semi-definite matrix's SVD is its eigendecomposition, so
:func:`fit_zca` uses ``torch.linalg.eigh`` in float64 (eigenvalues rounded below zero clamped at 0, as the SVD's
singular values are their magnitudes) and stores float32. kornia is not needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, DataError

#: MTT's regularisation (``K.enhance.ZCAWhitening(eps=0.1)``), added to every eigenvalue of the covariance
ZCA_EPS = 0.1
#: rows of the training matrix per float64 block of the covariance sum (bounds the fit's extra memory: 4096 x D x 8 bytes)
_FIT_ROWS = 4096
#: the names of the fit's tensors in a safetensors file
TENSOR_NAMES = ("zca_mean", "zca_matrix", "zca_inverse")


@dataclass(frozen=True)
class ZCAWhitening:
    """A fitted ZCA whitening of samples of shape ``sample_shape`` (C, H, W).

    Attributes:
        mean: the training samples' mean per feature, (D,) float32, D = C*H*W.
        matrix: the whitening matrix U diag((S + eps)^-1/2) U^T, (D, D) float32 (symmetric).
        inverse: its inverse U diag((S + eps)^1/2) U^T, (D, D) float32, for pictures of whitened samples.
        eps: the regularisation added to every eigenvalue.
    """

    mean: Tensor
    matrix: Tensor
    inverse: Tensor
    eps: float = ZCA_EPS

    @property
    def features(self) -> int:
        """D, the flattened sample size the fit whitens."""
        return int(self.mean.numel())

    def whiten(self, x: Tensor) -> Tensor:
        """``x`` (N, C, H, W) in the space the fit was made in -> the whitened samples, same shape and dtype."""
        flat = self._flat(x, "whiten")
        return ((flat - self.mean.to(flat)) @ self.matrix.to(flat)).reshape(x.shape)

    def unwhiten(self, z: Tensor) -> Tensor:
        """Whitened ``z`` (N, C, H, W) -> the samples before whitening (MTT's ``inverse_transform``), same shape."""
        flat = self._flat(z, "unwhiten")
        return (flat @ self.inverse.to(flat) + self.mean.to(flat)).reshape(z.shape)

    def tensors(self) -> dict[str, Tensor]:
        """The fit as named tensors (:data:`TENSOR_NAMES`) for a safetensors file; ``eps`` goes in its metadata."""
        return dict(zip(TENSOR_NAMES, (self.mean.contiguous(), self.matrix.contiguous(), self.inverse.contiguous())))

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], eps: float, where: str) -> "ZCAWhitening":
        """The fit stored by :meth:`tensors`; ArtifactError naming ``where`` when a tensor is missing or mis-shaped."""
        missing = [n for n in TENSOR_NAMES if n not in tensors]
        if missing:
            raise ArtifactError(f"{where}: the ZCA whitening has no tensor {', '.join(missing)} (expected {', '.join(TENSOR_NAMES)})")
        mean, matrix, inverse = (tensors[n] for n in TENSOR_NAMES)
        d = int(mean.numel())
        if mean.dim() != 1 or tuple(matrix.shape) != (d, d) or tuple(inverse.shape) != (d, d):
            raise ArtifactError(f"{where}: the ZCA whitening's tensors are mean {tuple(mean.shape)}, matrix {tuple(matrix.shape)}, "
                                f"inverse {tuple(inverse.shape)}; expected (D,), (D, D), (D, D)")
        return cls(mean.float(), matrix.float(), inverse.float(), float(eps))

    def _flat(self, x: Tensor, what: str) -> Tensor:
        if x.dim() < 2 or x[0].numel() != self.features:
            raise DataError(f"ZCA {what}: samples of shape {tuple(x.shape[1:])} ({x[0].numel() if x.dim() >= 2 else 0} values), "
                            f"but the whitening was fitted on samples of {self.features} values")
        return x.reshape(x.shape[0], -1)


def fit_zca(x: Tensor, eps: float = ZCA_EPS) -> ZCAWhitening:
    """Fit the ZCA whitening of the training samples ``x`` (N, C, H, W) (or any (N, ...)): kornia's ``zca_mean`` with
    ``unbiased=True`` and ``return_inverse=True`` (see the module's docstring), the covariance summed in float64 blocks.

    Raises:
        DataError: fewer than 2 samples (no unbiased covariance), or non-finite values in ``x``.
    """
    n = int(x.shape[0])
    if n < 2:
        raise DataError(f"ZCA whitening needs at least 2 training samples to estimate a covariance, got {n}")
    flat = x.reshape(n, -1)
    if not bool(torch.isfinite(flat).all()):
        raise DataError("ZCA whitening: the training samples hold NaN or infinite values")
    mean = flat.double().mean(dim=0)
    cov = torch.zeros(flat.shape[1], flat.shape[1], dtype=torch.float64)
    for start in range(0, n, _FIT_ROWS):
        block = flat[start:start + _FIT_ROWS].double() - mean
        cov += block.T @ block
    cov /= float(n - 1)
    s, u = torch.linalg.eigh(cov)
    s = s.clamp(min=0.0)
    matrix = (u * torch.rsqrt(s + eps)) @ u.T
    inverse = (u * torch.sqrt(s + eps)) @ u.T
    return ZCAWhitening(mean.float(), matrix.float(), inverse.float(), float(eps))


__all__ = ["TENSOR_NAMES", "ZCAWhitening", "ZCA_EPS", "fit_zca"]
