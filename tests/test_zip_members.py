"""Zip members read into memory (a MovieLens release, Tiny ImageNet's zip) are refused from their declared size before
they are inflated (walk 56C: a received zip of a few hundred KiB declaring gigabytes of one repeated byte, a *zip bomb*,
was inflated whole by ``ZipFile.read`` before anything looked at it)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mmdistill.errors import DataError
from mmdistill.modalities.image.datasets import load_image_dataset
from mmdistill.modalities.sequences.data import SequenceLoadOptions, load_sequences
from mmdistill.zip_members import read_zip_member

from test_tiny_imagenet import make_release, zipped  # noqa: E402

MiB = 2**20


def _bomb(path: Path, member: str, size: int, beside: dict[str, str] | None = None) -> Path:
    """A zip at ``path`` whose ``member`` inflates to ``size`` zero bytes (a few hundred KiB stored)."""
    with zipfile.ZipFile(path, "a" if path.exists() else "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, text in (beside or {}).items():
            zf.writestr(name, text)
        zf.writestr(member, b"0" * size)
    return path


def _never_inflated(monkeypatch) -> None:
    """ZipFile.read of a member larger than 8 MiB fails the test: it would have been inflated before being refused."""
    read = zipfile.ZipFile.read

    def guarded(self, name, pwd=None):
        info = name if isinstance(name, zipfile.ZipInfo) else self.getinfo(name)
        if info.file_size > 8 * MiB:
            pytest.fail(f"{info.filename} ({info.file_size} bytes) was inflated before its size was checked")
        return read(self, name, pwd)

    monkeypatch.setattr(zipfile.ZipFile, "read", guarded)


def test_a_member_over_the_limit_or_the_memory_available_is_refused_unread(tmp_path, monkeypatch):
    archive = _bomb(tmp_path / "a.zip", "big.bin", 40 * MiB, {"small.txt": "fine"})
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 32 * MiB)
    _never_inflated(monkeypatch)
    with zipfile.ZipFile(archive) as zf:
        assert read_zip_member(zf, "small.txt", archive, limit=MiB) == b"fine"
        with pytest.raises(DataError, match=r"a.zip:big.bin declares 40.0 MiB uncompressed \(\d+ KiB in the zip\), more than the 1 MiB "
                                            r"an image can be: not read"):
            read_zip_member(zf, "big.bin", archive, limit=MiB, what="an image")
        with pytest.raises(DataError, match=r"a.zip:big.bin declares 0.0 GiB uncompressed .* more than the 0.0 GiB of memory available"):
            read_zip_member(zf, "big.bin", archive)
        with pytest.raises(KeyError):
            read_zip_member(zf, "absent", archive)


def test_a_movielens_zip_whose_ratings_file_declares_more_than_the_memory_is_refused_unread(tmp_path, monkeypatch):
    """The ratings member was read with ZipFile.read whole (ML-25M's ratings.csv is 647 MiB: a bound below the memory
    available would refuse it, so the bound is the memory)."""
    archive = _bomb(tmp_path / "ml-latest-small.zip", "ml-latest-small/ratings.csv", 40 * MiB,
                    {"ml-latest-small/movies.csv": "movieId,title,genres\n1,A,x\n"})
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 32 * MiB)
    _never_inflated(monkeypatch)
    with pytest.raises(DataError, match=r"ml-latest-small.zip:ml-latest-small/ratings.csv declares 0.0 GiB uncompressed .* memory available here: not read"):
        load_sequences("movielens", str(archive), SequenceLoadOptions(max_len=5, min_user_inter=1, min_item_inter=1))


@pytest.mark.parametrize("member", ["tiny-imagenet-200/train/n01443537/images/n01443537_0.JPEG", "tiny-imagenet-200/words.txt"])
def test_a_tiny_imagenet_zip_member_declaring_more_than_a_release_file_is_refused_unread(tmp_path, monkeypatch, member):
    """An image of the release is ~2 KiB and words.txt 2.6 MiB; a member declaring 70 MiB is not inflated."""
    base = make_release(tmp_path / "src")
    (tmp_path / "root").mkdir()
    (base / member.split("/", 1)[1]).unlink()
    _bomb(zipped(base, tmp_path / "root" / "tiny-imagenet-200.zip"), member, 70 * MiB)
    _never_inflated(monkeypatch)
    with pytest.raises(DataError, match=r"declares 70.0 MiB uncompressed \(\d+ KiB in the zip\), more than the 64 MiB (an image|a file) of the release can be"):
        load_image_dataset("tinyimagenet", tmp_path / "root")


def test_a_deflated_torch_file_declaring_more_than_the_memory_is_refused_before_torch_load(tmp_path, monkeypatch):
    """``mmdistill import`` bounded a reference .pt by its size on disk, but ``torch.load`` inflates a deflated record
    whole: a 66 KiB file re-zipped with deflate loaded 64 MiB of zeros (walk 56C). The records' declared size is
    compared with the memory available first."""
    import torch

    from mmdistill.errors import ArtifactError
    from mmdistill.reference import read_reference

    plain, packed = tmp_path / "plain.pt", tmp_path / "images_best.pt"
    torch.save(torch.zeros(10 * MiB // 4), plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    assert packed.stat().st_size < MiB and read_reference(packed).numel() == 10 * MiB // 4  # a deflated file is read
    monkeypatch.setattr("mmdistill.memory.host_memory", lambda: 4 * MiB)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran before the declared size was checked"))
    with pytest.raises(ArtifactError, match=r"images_best.pt holds 0.0 GiB \(uncompressed\), more than the 0.0 GiB of memory available"):
        read_reference(packed)


def test_the_memory_is_not_asked_once_a_small_member_of_a_tiny_imagenet_zip(tmp_path, monkeypatch):
    """Tiny's zip is read one member an image, and asking the host for its memory (/proc/meminfo, the cgroup files, the
    rlimits) took ~0.4 ms a member, longer than decoding the JPEG: ~40 s added to a 110,000-image load (review R3.1). A
    member declaring at most ``PROBE_FLOOR`` bytes is read without asking; a larger one still is (the test above)."""
    import mmdistill.zip_members as zip_members

    base = make_release(tmp_path / "src")
    (tmp_path / "root").mkdir()
    zipped(base, tmp_path / "root" / "tiny-imagenet-200.zip")
    asked: list[int] = []
    monkeypatch.setattr(zip_members, "host_shortfall", lambda need: asked.append(need) or 0)
    data = load_image_dataset("tinyimagenet", tmp_path / "root", use_cache=False)
    assert len(data.x_train) > 0 and asked == []
    with zipfile.ZipFile(_bomb(tmp_path / "big.zip", "big.bin", zip_members.PROBE_FLOOR + 1)) as zf:
        zip_members.read_zip_member(zf, "big.bin", tmp_path / "big.zip")
    assert asked == [zip_members.PROBE_FLOOR + 1]
