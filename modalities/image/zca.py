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
singular values are their magnitudes) and keeps U and S (float32); the two matrices are computed from them in float64.
kornia is not needed.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import Tensor

from mmdistill.errors import ArtifactError, ConfigError, DataError

#: MTT's regularisation (``K.enhance.ZCAWhitening(eps=0.1)``), added to every eigenvalue of the covariance
ZCA_EPS = 0.1
#: rows of the training matrix per float64 block of the covariance sum (bounds the fit's extra memory: 4096 x D x 8 bytes)
_FIT_ROWS = 4096
#: the names of the fit's tensors in a safetensors file
TENSOR_NAMES = ("zca_mean", "zca_basis", "zca_variances")
#: host bytes per D^2 at the fit's peak (the float64 covariance, its eigenvectors and the float64 whitening matrix built
#: from them; 37 measured with fit_zca + whiten + unwhiten at D = 3,072)
FIT_BYTES_PER_ENTRY = 40


@dataclass(frozen=True)
class ZCAWhitening:
    """A fitted ZCA whitening of samples of D = C*H*W values, kept as the covariance's eigendecomposition (half the bytes
    of the whitening matrix and its inverse, which both follow from it).

    Attributes:
        mean: the training samples' mean per feature, (D,) float32.
        basis: the covariance's eigenvectors U, (D, D) float32, one per column.
        variances: its eigenvalues S, (D,) float32, >= 0.
        eps: the regularisation added to every eigenvalue.
    """

    mean: Tensor
    basis: Tensor
    variances: Tensor
    eps: float = ZCA_EPS

    @property
    def features(self) -> int:
        """D, the flattened sample size the fit whitens."""
        return int(self.mean.numel())

    @functools.cached_property
    def matrix(self) -> Tensor:
        """The whitening matrix U diag((S + eps)^-1/2) U^T, (D, D) float32 (symmetric), computed in float64."""
        u, s = self.basis.double(), self.variances.double()
        return ((u * torch.rsqrt(s + self.eps)) @ u.T).float()

    @functools.cached_property
    def inverse(self) -> Tensor:
        """Its inverse U diag((S + eps)^1/2) U^T, (D, D) float32, for pictures of whitened samples."""
        u, s = self.basis.double(), self.variances.double()
        return ((u * torch.sqrt(s + self.eps)) @ u.T).float()

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
        return dict(zip(TENSOR_NAMES, (self.mean.contiguous(), self.basis.contiguous(), self.variances.contiguous())))

    @classmethod
    def from_tensors(cls, tensors: dict[str, Tensor], eps: float, where: str) -> "ZCAWhitening":
        """The fit stored by :meth:`tensors`; ArtifactError naming ``where`` when a tensor is missing or mis-shaped."""
        missing = [n for n in TENSOR_NAMES if n not in tensors]
        if missing:
            raise ArtifactError(f"{where}: the ZCA whitening has no tensor {', '.join(missing)} (expected {', '.join(TENSOR_NAMES)})")
        mean, basis, variances = (tensors[n] for n in TENSOR_NAMES)
        d = int(mean.numel())
        if mean.dim() != 1 or tuple(basis.shape) != (d, d) or tuple(variances.shape) != (d,):
            raise ArtifactError(f"{where}: the ZCA whitening's tensors are mean {tuple(mean.shape)}, basis {tuple(basis.shape)}, "
                                f"variances {tuple(variances.shape)}; expected (D,), (D, D), (D,)")
        if not all(bool(torch.isfinite(t).all()) for t in (mean, basis, variances)) or bool((variances < 0).any()):
            raise ArtifactError(f"{where}: the ZCA whitening holds NaN, infinite or negative-variance values; the file is damaged")
        return cls(mean.float(), basis.float(), variances.float(), float(eps))

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
    return ZCAWhitening(mean.float(), u.float(), s.clamp(min=0.0).float(), float(eps))


def check_fit_memory(sample_shape: Sequence[int]) -> None:
    """ConfigError (key ``zca``) before a fit of samples of ``sample_shape`` (C, H, W) whose D x D matrices (about
    :data:`FIT_BYTES_PER_ENTRY` bytes per entry at the peak) cannot fit in the host's available memory
    (:func:`mmdistill.memory.host_shortfall`): an out-of-memory kill in ``eigh`` otherwise, after the data was read."""
    from mmdistill.memory import host_shortfall

    d = 1
    for v in sample_shape:
        d *= int(v)
    need = FIT_BYTES_PER_ENTRY * d * d
    if available := host_shortfall(need):
        gib = 1024.0**3
        raise ConfigError(f"zca=true: the ZCA whitening of images of {'x'.join(str(int(v)) for v in sample_shape)} (D = {d:,} values) "
                          f"needs D x D matrices, about {need / gib:.1f} GiB of memory to fit and apply, more than the "
                          f"{available / gib:.1f} GiB available (the set would also carry a {d * d * 4 / gib:.1f} GiB basis); pass a "
                          "smaller image_size (--image-size N; MTT whitens 32x32 CIFAR: D = 3,072), zca=false, or "
                          "memory_check=false to try anyway", key="zca")


def whiten_splits(train: Tensor, test: Tensor, mean: Sequence[float], std: Sequence[float],
                  eps: float = ZCA_EPS, cache_as: str | None = None,
                  check_memory: bool = True) -> tuple[ZCAWhitening, Tensor, Tensor]:
    """MTT's ``--zca`` data: the normalised ``train`` and ``test`` images (N, C, H, W) taken back to [0, 1] pixels (x * std
    + mean per channel: MTT whitens ``ToTensor``'s pixels, not normalised ones), the whitening fitted on the training
    split's alone and applied to both. With ``cache_as`` (the dataset's name) the fit is read from, or written to, the
    cache (:func:`.zca_cache.cached_fit`): a second load of the same pixels does not fit again. Returns (fit, whitened
    train, whitened test), float32. With ``check_memory``, :func:`check_fit_memory` first (ConfigError)."""
    from .datasets import denormalize

    if check_memory:
        check_fit_memory(tuple(train.shape[1:]))
    train_px, test_px = (denormalize(x.float(), tuple(mean), tuple(std)) for x in (train, test))
    if cache_as is None:
        fit = fit_zca(train_px, eps)
    else:
        from .zca_cache import cached_fit  # it imports this module

        fit = cached_fit(train_px, eps, cache_as)
    return fit, fit.whiten(train_px), fit.whiten(test_px)


def meta_of(fit: ZCAWhitening, train_samples: int) -> dict[str, Any]:
    """What a set's ``meta["zca"]`` says of its whitening (JSON): eps, the space it was fitted in, the sample count, the
    fit's tensors (``fixed.zca_*`` in the set's tensor file) and their bytes."""
    return {"eps": fit.eps, "fitted_on": "the training split's [0, 1] pixels", "train_samples": int(train_samples),
            "tensors": [f"fixed.{n}" for n in TENSOR_NAMES], "bytes": sum(t.numel() * t.element_size() for t in fit.tensors().values())}


def set_whitening(syn: Any) -> ZCAWhitening | None:
    """The ZCA whitening a set ``syn`` (a :class:`~mmdistill.synthetic.SyntheticSet`) was distilled in, from its ``fixed``
    tensors; None for a set without ``meta["zca"]`` (every set not whitened). ArtifactError when the meta says it was
    whitened and the tensors are missing or mis-shaped. The same set's tensors give the same object back (its matrices,
    computed once)."""
    info = syn.meta.get("zca")
    if not info:
        return None
    eps = float(info.get("eps", ZCA_EPS) if isinstance(info, dict) else ZCA_EPS)
    fixed = dict(getattr(syn, "fixed", {}) or {})
    key = tuple(id(fixed.get(n)) for n in TENSOR_NAMES)
    built = _BUILT.get(key)  # the same tensors: the checked fit and its matrices (a D x D product each) are reused
    if built is not None and built[1] == eps and all(ref() is fixed.get(n) for ref, n in zip(built[0], TENSOR_NAMES)):
        return built[2]
    fit = ZCAWhitening.from_tensors(fixed, eps, "the set's tensor file (meta.zca)")
    _BUILT.clear()  # one set's fit kept: previews, exports and memorisation pictures of one set call this in turn
    _BUILT[key] = (tuple(weakref.ref(fixed[n]) for n in TENSOR_NAMES), eps, fit)
    return fit


#: the last set's checked fit, by the identity of its tensors (one kept: it holds them until another set's is asked for)
_BUILT: dict[tuple[int, ...], tuple[tuple[Any, ...], float, ZCAWhitening]] = {}


__all__ = ["FIT_BYTES_PER_ENTRY", "TENSOR_NAMES", "check_fit_memory", "ZCAWhitening", "ZCA_EPS", "fit_zca", "meta_of", "set_whitening", "whiten_splits"]
