"""The ZCA fit of a training split is cached (walk 53H): a second load of the same pixels reads it instead of fitting
again, a damaged entry is fitted again and replaced, and ``mmdistill cache`` lists the ``zca`` kind."""

from __future__ import annotations

import logging

import torch

import mmdistill.modalities.image.zca as zca
import mmdistill.modalities.image.zca_cache as zca_cache
from mmdistill.cache_cli import entries


def _images(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(60, 1, 1, 1, generator=g)  # correlated pixels: a covariance far from the identity
    return (base + 0.3 * torch.randn(60, 3, 4, 4, generator=g)), torch.randn(10, 3, 4, 4, generator=g)


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = zca_cache.fit_zca

    def counted(x, eps):
        calls.append(int(x.shape[0]))
        return real(x, eps)

    monkeypatch.setattr(zca_cache, "fit_zca", counted)
    monkeypatch.setattr(zca, "fit_zca", counted)  # whiten_splits without the cache
    return calls


def test_a_second_load_reads_the_fit_and_equals_the_first(monkeypatch, tmp_path):
    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path))
    calls = _counting(monkeypatch)
    train, test = _images()
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    fit1, tr1, te1 = zca.whiten_splits(train, test, mean, std, cache_as="CIFAR-10")
    fit2, tr2, te2 = zca.whiten_splits(train.clone(), test, mean, std, cache_as="CIFAR-10")
    assert calls == [60]  # the second load did not fit
    for a, b in ((fit1.mean, fit2.mean), (fit1.basis, fit2.basis), (fit1.variances, fit2.variances), (tr1, tr2), (te1, te2)):
        assert torch.equal(a, b)
    assert fit2.eps == fit1.eps
    (entry,) = entries("zca", tmp_path)
    assert entry.path.name.startswith("cifar-10-") and entry.path.suffix == ".safetensors"
    zca.whiten_splits(train, test, mean, std, eps=0.01, cache_as="CIFAR-10")  # another eps: its own fit
    zca.whiten_splits(train[:-1], test, mean, std, cache_as="CIFAR-10")  # other data: its own fit
    assert calls == [60, 60, 59] and len(entries("zca", tmp_path)) == 3
    zca.whiten_splits(train, test, mean, std)  # no cache_as: fitted, nothing cached
    assert calls == [60, 60, 59, 60] and len(entries("zca", tmp_path)) == 3


def test_a_damaged_entry_is_fitted_again_never_trusted(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path))
    calls = _counting(monkeypatch)
    train, test = _images(1)
    fit1, _, _ = zca.whiten_splits(train, test, [0.0] * 3, [1.0] * 3, cache_as="digits")
    (entry,) = entries("zca", tmp_path)
    raw = bytearray(entry.path.read_bytes())
    raw[-7] ^= 0x55  # one byte of the tensors: still a readable safetensors file of finite values
    entry.path.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        fit2, _, _ = zca.whiten_splits(train, test, [0.0] * 3, [1.0] * 3, cache_as="digits")
    assert calls == [60, 60] and torch.equal(fit2.basis, fit1.basis)
    assert any("is not usable" in r.getMessage() and "SHA-256" in r.getMessage() for r in caplog.records)
    entry.path.write_bytes(b"not a safetensors file")  # truncated / foreign: fitted again and replaced
    zca.whiten_splits(train, test, [0.0] * 3, [1.0] * 3, cache_as="digits")
    fit3, _, _ = zca.whiten_splits(train, test, [0.0] * 3, [1.0] * 3, cache_as="digits")
    assert calls == [60, 60, 60] and torch.equal(fit3.basis, fit1.basis)


def test_a_cache_that_cannot_be_written_costs_only_the_time(monkeypatch, tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("MMDISTILL_CACHE", str(blocked))
    train, test = _images(2)
    with caplog.at_level(logging.WARNING, logger="mmdistill"):
        fit, tr, _ = zca.whiten_splits(train, test, [0.0] * 3, [1.0] * 3, cache_as="digits")
    assert tr.shape == train.shape and fit.features == 48
    assert any("cannot be written" in r.getMessage() for r in caplog.records)


def test_the_image_loader_fits_a_datasets_whitening_once(monkeypatch, tmp_path):
    """zca=true loads (run, eval, import, experts) go through the cache: the second load of digits does not fit."""
    from mmdistill.modalities.image import MODALITY
    from mmdistill.recipes.image_mtt import RECIPE

    monkeypatch.setenv("MMDISTILL_CACHE", str(tmp_path))
    calls = _counting(monkeypatch)
    cfg = RECIPE.config(dataset="digits", ipc=1, budget="cpu", zca=True)
    first, second = MODALITY.load(cfg), MODALITY.load(cfg)
    assert len(calls) == 1 and torch.equal(first.train.x, second.train.x) and torch.equal(first.test.x, second.test.x)
    assert torch.equal(first.zca.basis, second.zca.basis) and first.meta == second.meta
