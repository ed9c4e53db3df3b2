"""Video adapter: loaders (frame folders, decord files, tensors, generated digits), cache, bad input, networks,
the static/dynamic parameterization (shapes, gradients, stored bytes) and short runs of every video recipe."""

from __future__ import annotations

import json
import logging
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdistill.errors import ConfigError, DataError

TINY = dict(md_train_per_class=4, md_test_per_class=2, md_frames=4, md_size=16, eval_runs=1, eval_epochs=1, progress=False)


def _frames_tree(root: Path, clips: dict[str, int], size=(16, 16), frames: int = 6) -> Path:
    """root/<class>/<clip>/frame_XX.png, ``clips`` = {class: count}."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, n in clips.items():
        for i in range(n):
            d = root / cls / f"clip{i}"
            d.mkdir(parents=True)
            for t in range(frames):
                Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(d / f"frame_{t:02d}.png")
    return root


# ------------------------------------------------------------------ generated set
def test_moving_digits_is_seeded_and_shaped():
    from mmdistill.modalities.video.moving_digits import CLASSES, MovingDigitsSpec, generate

    spec = MovingDigitsSpec(train_per_class=2, test_per_class=1, frames=4, size=16, glyph=8)
    a = generate(spec)
    b = generate(spec)
    assert a[0].shape == (20, 1, 4, 16, 16) and a[2].shape == (10, 1, 4, 16, 16)
    assert torch.equal(a[0], b[0]) and len(CLASSES) == 10 and a[4] == CLASSES
    assert 0.0 <= float(a[0].min()) and float(a[0].max()) <= 1.0
    # the translating classes move: consecutive frames differ more than noise
    assert (a[0][:, :, 1:] - a[0][:, :, :-1]).abs().mean() > 0.01


def test_moving_digits_data_follow_md_seed_not_the_distillation_seed():
    """``--seed`` draws a second distillation of the same benchmark; only ``md_seed`` draws other clips."""
    from mmdistill.modalities.video.adapter import load_video_set
    from mmdistill.recipes.video_dm import RECIPE

    def clips(**keys):
        cfg = RECIPE.config_cls(**{k: v for k, v in TINY.items() if k.startswith("md_")}, **keys)
        return load_video_set(cfg).x_train

    base = clips(seed=0)
    assert torch.equal(base, clips(seed=1))
    assert not torch.equal(base, clips(md_seed=1))


def test_herding_with_dropout_does_not_follow_the_global_generator():
    """ConvNet3D's dropout draws from torch's global generator; the herding network trains under its own seed, so
    ``run`` (global stream advanced by the distillation) and ``eval`` (just seeded) select the same clips."""
    from mmdistill.classification import herding_indices
    from mmdistill.modality import get_modality
    from mmdistill.recipes.video_dm import RECIPE

    cfg = RECIPE.config_cls(**TINY, ipc=2, network="convnet3d-small", herding_epochs=2)
    modality = get_modality("video")
    data = modality.load(cfg)
    picks = []
    for global_seed in (0, 12345):
        torch.manual_seed(global_seed)
        picks.append(herding_indices(cfg, data, modality, torch.device("cpu")))
    assert torch.equal(picks[0], picks[1])


def test_moving_digits_groups_pick_the_glyphs_and_bad_groups_are_named(monkeypatch):
    import mmdistill.modalities.video.moving_digits as md
    from mmdistill.modalities.video.moving_digits import parse_digit_groups

    assert parse_digit_groups("01234/56789") == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)) and parse_digit_groups("0/1") == ((0,), (1,))
    for bad in ("0123", "01/12", "0/", "a/b", "00/1", "0/1/2"):
        with pytest.raises(ConfigError, match="md_groups=.*expected two disjoint groups"):
            parse_digit_groups(bad)
    with pytest.raises(ValueError, match="groups"):
        md.MovingDigitsSpec(groups=((0, 1), (1, 2)))
    from mmdistill.recipes import video_dm

    with pytest.raises(ConfigError, match="md_groups='0/0'"):  # refused when the config is made, before any data
        video_dm.RECIPE.config(md_groups="0/0")
    rendered = []
    real = md._render
    monkeypatch.setattr(md, "_render", lambda glyph, spec, motion, gen: rendered.append(glyph) or real(glyph, spec, motion, gen))
    images, digits = md._glyphs()
    glyphs = torch.nn.functional.interpolate(images[:, None], size=(8, 8), mode="bilinear", align_corners=False).clamp(0, 1)
    md.generate(md.MovingDigitsSpec(train_per_class=2, test_per_class=1, frames=2, size=16, glyph=8, groups=((3,), (7,))))
    wanted = {3: [g for g, d in zip(glyphs, digits.tolist()) if d == 3], 7: [g for g, d in zip(glyphs, digits.tolist()) if d == 7]}
    for i, glyph in enumerate(rendered):  # classes in order, low group first: class k % 2 == 0 is low
        group = 3 if (i // (2 if i < 20 else 1)) % 2 == 0 else 7
        assert any(torch.equal(glyph, g) for g in wanted[group])


# ------------------------------------------------------------------ sampling
def test_frame_sampling_rules():
    from mmdistill.modalities.video.datasets import FrameSampling

    s = FrameSampling(num_frames=4, frame_gap=3, offset="center", short="gap")
    idx, kind = s.indices(100, "a")
    assert kind == "ok" and np.diff(idx).tolist() == [3, 3, 3]
    idx, kind = s.indices(8, "a")  # span 10 > 8: the reference's smaller gap (8 // 4 = 2)
    assert kind == "gap" and np.diff(idx).tolist() == [2, 2, 2]
    idx, kind = s.indices(3, "a")  # fewer frames than num_frames: gap 1, last frame repeated
    assert kind == "gap+pad" and idx == [0, 1, 2, 2]
    idx, kind = FrameSampling(num_frames=4, frame_gap=1, short="gap").indices(3, "a")  # gap 1 cannot shrink: only padded
    assert kind == "pad" and idx == [0, 1, 2, 2]
    idx, kind = FrameSampling(num_frames=4, frame_gap=3, short="pad").indices(8, "a")
    assert kind == "pad" and idx[-1] == 7
    assert FrameSampling(num_frames=4, frame_gap=3, short="skip").indices(8, "a") == (None, "skip")
    r1 = FrameSampling(num_frames=2, frame_gap=1, seed=1).indices(50, "clip.mp4")
    assert r1 == FrameSampling(num_frames=2, frame_gap=1, seed=1).indices(50, "clip.mp4")  # seeded per clip
    with pytest.raises(ConfigError):
        FrameSampling(offset="middle")


# ------------------------------------------------------------------ frame folders, cache, bad input
def test_frame_folders_load_cache_hit_and_short_clips(tmp_path):
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 5, "b": 5})
    # one short clip (2 frames) in class a
    short = root / "a" / "clip0"
    for f in sorted(short.iterdir())[2:]:
        f.unlink()
    sampling = FrameSampling(num_frames=4, frame_gap=1, frame_size=8, short="skip")
    t0 = time.perf_counter()
    vs = load_clip_folder(root, kind="frames", sampling=sampling, cache_dir=tmp_path / "cache")
    first = time.perf_counter() - t0
    assert vs.x_train.shape[1:] == (3, 4, 8, 8) and len(vs.x_train) + len(vs.x_test) == 9
    assert vs.report.counts()["skipped_short"] == 1 and "clip0" in vs.report.lines()[0]
    assert vs.report.cache.startswith("wrote")
    t0 = time.perf_counter()
    again = load_clip_folder(root, kind="frames", sampling=sampling, cache_dir=tmp_path / "cache")
    assert again.report.cache.startswith("hit") and torch.equal(again.x_train, vs.x_train)
    assert again.report.counts()["skipped_short"] == 1  # the report survives the cache
    assert time.perf_counter() - t0 < first + 1.0
    padded = load_clip_folder(root, kind="frames", sampling=FrameSampling(num_frames=4, frame_gap=1, frame_size=8, short="pad"), use_cache=False)
    assert padded.report.counts()["padded"] == 1 and len(padded.x_train) + len(padded.x_test) == 10


def test_bad_input_is_named(tmp_path):
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    # mixed frame sizes without --frame-size
    root = _frames_tree(tmp_path / "mixed", {"a": 2})
    _frames_tree(tmp_path / "mixed2", {"b": 2}, size=(12, 20))
    shutil.move(str(tmp_path / "mixed2" / "b"), str(root / "b"))
    with pytest.raises(DataError, match="mixed frame sizes"):
        load_clip_folder(root, kind="frames", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=None), use_cache=False)
    # a split CSV naming missing files
    (root / "list.csv").write_text("path,label,split\na/clip0,a,train\na/nothere,a,test\n")
    with pytest.raises(DataError, match="1 clip.*nothere"):
        load_clip_folder(root, kind="frames", split_file=str(root / "list.csv"), use_cache=False)
    # a folder with no decodable video
    empty = tmp_path / "junk" / "cls"
    empty.mkdir(parents=True)
    (empty / "x.mp4").write_bytes(b"not a video")
    pytest.importorskip("decord")
    with pytest.raises(DataError, match="no decodable clip"):
        load_clip_folder(tmp_path / "junk", kind="files", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=16), use_cache=False)
    with pytest.raises(DataError, match="x.mp4"):
        load_clip_folder(tmp_path / "junk", kind="files", sampling=FrameSampling(num_frames=2, frame_gap=1, frame_size=16), use_cache=False,
                         strict=True)
    # no such root
    with pytest.raises(DataError, match="does not exist"):
        load_clip_folder(tmp_path / "nope", use_cache=False)


def test_class_with_fewer_clips_than_the_budget_is_refused(tmp_path):
    from mmdistill.modalities.video import register_tensors
    from mmdistill.recipes import video_dm

    x = torch.rand(5, 1, 4, 16, 16)
    register_tensors("tiny-tensors", x, torch.tensor([0, 0, 0, 1, 1]), x[:2], torch.tensor([0, 1]), ["many", "few"])
    with pytest.raises(DataError, match="few"):
        video_dm.run(dataset="tiny-tensors", ipc=3, iterations=1, evaluate=False, out=str(tmp_path / "r"), progress=False)


def test_decord_files_with_an_unreadable_one_and_ucf_split(kinetics_tiny_folder, tmp_path):
    pytest.importorskip("decord")
    from mmdistill.modalities.video.datasets import FrameSampling, load_clip_folder

    root = kinetics_tiny_folder
    (root / "typing" / "broken.mp4").write_bytes(b"\x00" * 100)
    # UCF101-style split lists
    train = [f"{p.parent.name}/{p.name}" for p in sorted(root.rglob("*.mp4"))]
    (root / "trainlist01.txt").write_text("\n".join(f"{p} 1" for p in train[:2] + train[3:5] + [train[-1]]) + "\n")
    (root / "testlist01.txt").write_text("\n".join([train[2], train[5]]) + "\n")
    sampling = FrameSampling(num_frames=4, frame_gap=2, frame_size=32)
    vs = load_clip_folder(root, kind="files", sampling=sampling, split_file=str(root / "trainlist01.txt"), cache_dir=tmp_path / "c")
    assert vs.x_train.shape[1:] == (3, 4, 32, 32) and len(vs.x_test) == 2
    assert vs.report.counts()["unreadable"] == 1 and "broken.mp4" in vs.report.lines()[0]
    hit = load_clip_folder(root, kind="files", sampling=sampling, split_file=str(root / "trainlist01.txt"), cache_dir=tmp_path / "c")
    assert hit.report.cache.startswith("hit") and torch.equal(hit.x_train, vs.x_train)
    with pytest.raises(DataError, match="broken.mp4"):
        load_clip_folder(root, kind="files", sampling=sampling, strict=True, use_cache=False)


# ------------------------------------------------------------------ bad input (audit): each case named, nothing dropped silently
def _sampling(**kw):
    from mmdistill.modalities.video.datasets import FrameSampling

    return FrameSampling(**{"num_frames": 4, "frame_gap": 1, "frame_size": 8, **kw})


def test_decord_sizes_its_scaler_refuses_are_resized_by_pillow(kinetics_tiny_folder, tmp_path):
    """decord 0.6's scaler fails (a buffer-size check) at some widths, 16 and 24 among them: every clip was
    reported unreadable. Those sizes now decode natively and are resized as frame images are."""
    pytest.importorskip("decord")
    from mmdistill.modalities.video.datasets import load_clip_folder

    for size in (16, 24):
        vs = load_clip_folder(kinetics_tiny_folder, sampling=_sampling(frame_size=size), use_cache=False)
        assert vs.x_train.shape[1:] == (3, 4, size, size) and vs.report.counts()["unreadable"] == 0
        assert float(vs.x_train.std()) > 0.01  # real pixels, not a blank fill


def test_strict_makes_short_skips_an_error_and_a_cache_hit_obeys_strict(tmp_path):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    for f in sorted((root / "a" / "clip0").iterdir())[2:]:  # a 2-frame clip
        f.unlink()
    skip = _sampling(short="skip")
    with pytest.raises(DataError, match=r"clip0 is shorter than \(num_frames - 1\) x frame_gap \+ 1 frames \(2 frames < 4; short=skip\).*--strict"):
        load_clip_folder(root, kind="frames", sampling=skip, strict=True, use_cache=False)
    (root / "b" / "clip1" / "frame_02.png").write_bytes(b"not a png")  # frame 2 of 6 is in every 4-frame window
    ok = load_clip_folder(root, kind="frames", sampling=_sampling(short="pad"), cache_dir=tmp_path / "c")  # fills the cache
    assert ok.report.counts()["unreadable"] == 1 and ok.report.cache.startswith("wrote")
    with pytest.raises(DataError, match=r"b/clip1 \(unreadable: frame_02.png.*--strict"):
        load_clip_folder(root, kind="frames", sampling=_sampling(short="pad"), cache_dir=tmp_path / "c", strict=True)


def test_strict_refuses_a_short_clip_that_short_pads_or_shrinks_and_a_cache_hit_too(tmp_path):
    """A clip shorter than (num_frames - 1) x frame_gap + 1 frames is an error under --strict whatever ``short`` does with it; before,
    only short=skip's skipped clip was, and a padded or shrunk clip passed --strict silently (fresh or cached)."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    for f in sorted((root / "a" / "clip0").iterdir())[2:]:  # a 2-frame clip: 3 frames at gap 2 span 5
        f.unlink()
    for short, policy, done in (("pad", "short=pad", "padded by repeating the last frame"),
                                ("gap", "short=gap", "sampled with a smaller frame gap")):
        kept = load_clip_folder(root, kind="frames", sampling=_sampling(short=short, num_frames=3, frame_gap=2), cache_dir=tmp_path / "c")
        assert kept.report.counts()["padded"] == 1 and len(kept.x_train) + len(kept.x_test) == 6  # without strict: kept, counted
        for cached in (False, True):  # a fresh decode, and a cache hit of the load above
            with pytest.raises(DataError) as err:
                load_clip_folder(root, kind="frames", sampling=_sampling(short=short, num_frames=3, frame_gap=2), cache_dir=tmp_path / "c", use_cache=cached,
                                 strict=True)
            msg = str(err.value)
            for part in ("1 clip(s) under", "a/clip0 (", "shorter than (num_frames - 1) x frame_gap + 1 frames", done, policy, "--strict",
                         f"without it {policy} "):
                assert part in msg, (short, cached, part, msg)
    assert "also padded" in msg  # short=gap pads a clip with fewer frames than num_frames too


def test_a_video_report_takes_the_core_strict_error_call():
    """The video LoadReport's strict_error takes the core's keyword arguments (``flag=`` raised TypeError): they word
    the error for items left out as the core's does, and ``flag`` names the option for a short clip too."""
    from mmdistill.load_report import LoadReport as CoreReport
    from mmdistill.modalities.video.datasets import LoadReport

    report = LoadReport()
    report.add("ignored", "a.txt", "not a clip")
    err = report.strict_error(["ignored"], flag="--x", noun="file(s)")
    assert isinstance(err, DataError) and str(err) == str(CoreReport.strict_error(report, ["ignored"], flag="--x", noun="file(s)"))
    assert "1 file(s) under" in str(err) and "--x makes that an error" in str(err)
    short = LoadReport()
    short.add("padded", "b/clip0", "2 frames < 4")
    msg = str(short.strict_error(flag="--x"))
    assert "1 clip(s) under" in msg and "short=pad" in msg and "--x makes that an error" in msg
    assert "--strict makes that an error" in str(short.strict_error())  # the call without them: as before


def test_a_cache_hit_reads_its_clips_into_aligned_memory_of_their_own(tmp_path, monkeypatch):
    """Review 56 R5.2: the decoded-clip cache opened its entry with safe_open for the metadata, then again with
    safetensors' load_file, whose tensors are views at their file offsets (not PyTorch's alignment, as mmdistill.io's
    load_tensors gives); it now reads through load_tensors_with_metadata, once."""
    import mmdistill.modalities.video.datasets as video_datasets
    from mmdistill.io import ALIGNMENT

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    video_datasets.load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
    read = video_datasets._read_cache
    offsets: dict[str, int] = {}

    def spied(*args):
        got = read(*args)
        offsets.update({name: t.data_ptr() % ALIGNMENT for name, t in (got[0] if got else {}).items()})
        return got

    monkeypatch.setattr(video_datasets, "_read_cache", spied)
    hit = video_datasets.load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
    assert hit.report.cache.startswith("hit") and set(offsets) == {"x_train", "y_train", "x_test", "y_test"}
    assert offsets == dict.fromkeys(offsets, 0)


def test_a_damaged_or_foreign_cache_file_is_decoded_again(tmp_path, caplog):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    first = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
    (cache,) = (tmp_path / "c").glob("*.safetensors")
    for junk in (b"garbage" * 10, b""):
        cache.write_bytes(junk)
        with caplog.at_level("WARNING"):
            again = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
        assert again.report.cache.startswith("wrote") and torch.equal(again.x_train, first.x_train)
        assert "cannot be used" in caplog.text and cache.name in caplog.text
        caplog.clear()
    # a cache written with other decode settings, under this key's name, is not taken as this one
    load_clip_folder(root, kind="frames", sampling=_sampling(num_frames=3), cache_dir=tmp_path / "c")
    other = next(p for p in (tmp_path / "c").glob("*.safetensors") if p != cache)
    shutil.copy(other, cache)
    with caplog.at_level("WARNING"):
        again = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
    assert again.x_train.shape[2] == 4 and "other decode settings" in caplog.text
    assert not list((tmp_path / "c").glob("*.tmp")) and not list((tmp_path / "c").glob(".*.tmp"))


def _edit_cache(cache, edit):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(cache))
    with safe_open(str(cache), "pt") as fh:
        meta = dict(fh.metadata())
    edit(tensors, meta)
    save_file(tensors, str(cache), metadata=meta)


@pytest.mark.parametrize("edit, said", [
    (lambda t, m: m.update(classes=json.dumps(["b", "a"])), r"its classes \['b', 'a'\] are not this layout's \['a', 'b'\]"),
    (lambda t, m: t["y_train"].__setitem__(0, 7), r"y_train is not 2 int64 labels in \[0, 2\)"),  # an IndexError before
    (lambda t, m: t["y_test"].__setitem__(0, -1), r"y_test is not 2 int64 labels in \[0, 2\)"),
    (lambda t, m: t.update(y_train=t["y_train"][:1].clone()), r"y_train is not 2 int64 labels"),
    (lambda t, m: t.update(x_train=t["x_train"][:, :, :2].contiguous()), r"x_train is uint8 \[2, 3, 2, 8, 8\], expected uint8 "
     r"\[at most 2 clips, 3, 4, 8, 8\]"),
], ids=["classes-swapped", "label-past-the-classes", "label-negative", "fewer-labels", "other-frame-count"])
def test_a_cache_entry_under_the_right_name_with_other_clips_is_decoded_again(tmp_path, caplog, edit, said):
    """Walk 49A: the decoded-clip cache checked its entry's decode settings, not its content: an entry (shared, or
    damaged) whose classes were named the other way round swapped every label silently, a label past the classes
    stopped the load with an IndexError, other clip shapes or label counts were returned as the data. The content is
    checked against the layout now; an entry that does not fit is decoded again and replaced, with a warning."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 2, "b": 2})
    (root / "split.csv").write_text("path,label,split\na/clip0,a,train\na/clip1,a,test\nb/clip0,b,train\nb/clip1,b,test\n")
    load = lambda: load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "split.csv"),  # noqa: E731
                                    cache_dir=tmp_path / "c")
    first = load()
    (cache,) = (tmp_path / "c").glob("*.safetensors")
    _edit_cache(cache, edit)
    with caplog.at_level("WARNING"):
        again = load()
    assert re.search(said, caplog.text) and "decoding the clips again and replacing it" in caplog.text, caplog.text
    assert again.classes == ["a", "b"] and torch.equal(again.y_train, first.y_train) and torch.equal(again.x_train, first.x_train)
    assert again.report.cache.startswith("wrote")


def test_split_files_wrong_header_bom_duplicates_and_ucf_lines(tmp_path):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 2, "b": 2})
    rows = "a/clip0,a,train\r\na/clip1,a,test\r\nb/clip0,b,train\r\nb/clip1,b,test\r\n"
    (root / "bom.csv").write_bytes(("\ufeffpath,label,split\r\n" + rows).encode("utf-8"))  # a spreadsheet's CSV
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "bom.csv"), use_cache=False)
    assert len(vs.x_train) == 2 and len(vs.x_test) == 2 and vs.classes == ["a", "b"]
    (root / "hdr.csv").write_text("file,class,split\n" + rows)
    with pytest.raises(DataError, match=r"hdr.csv, line 1: the header must be path,label,split, got 'file,class,split'"):
        load_clip_folder(root, kind="frames", split_file=str(root / "hdr.csv"), use_cache=False)
    (root / "dev.csv").write_text("path,label,split\na/clip0,a,train\na/clip1,a,dev\n")
    with pytest.raises(DataError, match=r"dev.csv, line 3: split must be train, test or val, got 'dev'"):
        load_clip_folder(root, kind="frames", split_file=str(root / "dev.csv"), use_cache=False)
    (root / "dup.csv").write_text("path,label,split\n" + rows + "a/clip0,a,test\n")
    with pytest.raises(DataError, match=r"dup.csv names .*a/clip0 more than once \(train and test\)"):
        load_clip_folder(root, kind="frames", split_file=str(root / "dup.csv"), use_cache=False)
    (root / "trainlist01.txt").write_text("a/clip0 1\nclip1 1\n")
    (root / "testlist01.txt").write_text("b/clip1\n")
    with pytest.raises(DataError, match=r"trainlist01.txt, line 2: 'clip1' has no class folder"):
        load_clip_folder(root, kind="frames", split_file=str(root / "trainlist01.txt"), use_cache=False)


def test_a_class_left_without_clips_is_refused_by_name(tmp_path):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"good": 3, "bad": 2})
    for clip in (root / "bad").iterdir():  # every clip of 'bad' unreadable: the class used to vanish silently
        (clip / "frame_02.png").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"'bad' \(2 training clip\(s\) listed, 2 unreadable or skipped"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)
    shutil.rmtree(root / "bad")
    (root / "empty").mkdir()  # an empty class folder is a class too
    with pytest.raises(DataError, match=r"'empty' \(0 training clip"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)


def test_files_found_but_not_used_are_named_and_strict_refuses_them(tmp_path, caplog):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    (root / "a" / "notes.txt").write_text("x")  # beside the clip folders
    (root / "a" / "clip0" / "Thumbs.db").write_text("x")  # in a clip folder, not a frame
    from PIL import Image

    Image.new("RGB", (8, 8)).save(root / "stray.png")  # beside the class folders
    with caplog.at_level("WARNING"):
        vs = load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)
    assert vs.report.counts()["ignored"] == 3
    assert {Path(p).name for p, _ in vs.report.ignored} == {"notes.txt", "Thumbs.db", "stray.png"}
    assert "3 file(s) or folder(s) under the data root not used" in caplog.text
    assert vs.report.as_dict()["files"]["ignored"] == ["stray.png", "a/notes.txt", "a/clip0/Thumbs.db"]
    with pytest.raises(DataError, match=r"would be left out.*--strict"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, strict=True)
    # train/ + test/ + val/: val/ is not used, and says so
    tv = tmp_path / "tv"
    _frames_tree(tv / "train", {"a": 2, "b": 2})
    _frames_tree(tv / "test", {"a": 1, "b": 1})
    _frames_tree(tv / "val", {"a": 1})
    vs = load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False)
    assert len(vs.x_train) == 4 and len(vs.x_test) == 2
    assert [r for _, r in vs.report.unused] == ["val/ is not used: test/ is the held-out split"] and not vs.report.ignored
    strict = load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False, strict=True)  # left out by design
    assert len(strict.x_test) == 2 and strict.report.counts()["unused"] == 1


def test_frames_of_different_sizes_in_one_clip_are_named(tmp_path):
    from PIL import Image

    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 2, "b": 2}, size=(8, 8))
    Image.new("RGB", (12, 6)).save(root / "a" / "clip1" / "frame_02.png")
    with pytest.raises(DataError, match=r"clip .*a/clip1 has frames of different sizes: 8x8 .*12x6 \(frame_02.png\).*--frame-size"):
        load_clip_folder(root, kind="frames", sampling=_sampling(frame_size=None, offset="center"), use_cache=False)


def test_tensor_sets_refuse_bad_shapes_dtypes_and_labels():
    from mmdistill.modalities.video import register_tensors
    from mmdistill.modalities.video.datasets import from_tensors

    x, y = torch.rand(4, 1, 2, 8, 8), torch.tensor([0, 0, 1, 1])
    cases = [((x * 255, y, x, y), r"from_tensors: float x_train must lie in \[0, 1\]"),
             ((x.long(), y, x, y), r"x_train must be float pixels in \[0, 1\] or uint8 0..255, got dtype torch.int64"),
             ((x.masked_fill(x > 0.5, float("nan")), y, x, y), r"x_train holds NaN or infinite values in \d+ clip\(s\): rows \[0, 1, 2, 3\]"),
             ((x, y.float(), x, y), r"from_tensors: y_train must hold integer class ids, got dtype torch.float32"),
             ((x, y - 1, x, y), r"y_train holds negative label\(s\) -1; labels must be class ids 0..K-1"),
             ((x, y, x[:0], y[:0]), "x_test holds no clip"),
             ((x[:, 0], y, x, y), r"x_train: clips must be \(N, C, T, H, W\)"),
             ((x.numpy(), y, x, y), "x_train must be a torch.Tensor")]
    for args, msg in cases:
        with pytest.raises(DataError, match=msg):
            from_tensors(*args)
    with pytest.raises(DataError, match="classes names 1 class"):
        from_tensors(x, y, x, y, ["only"])
    assert from_tensors((x * 255).to(torch.uint8), y, x, y).x_train.max() <= 1.0
    with pytest.raises(ConfigError, match="non-empty string"):
        register_tensors("", x, y, x, y)


def test_register_tensors_refuses_labels_that_leave_a_class_untrained():
    """Labels 3, 7, 11 were taken as 12 classes; the run then failed in SyntheticSet.from_real with "class '0' has 0
    training samples ... lower ipc" (a wrong hint). register_tensors refuses them, naming the labels and 0..K-1."""
    from mmdistill.modalities.video import register_tensors
    from mmdistill.modalities.video.adapter import _TENSOR_SETS

    x, xt = torch.rand(5, 1, 2, 8, 8), torch.rand(3, 1, 2, 8, 8)
    y, yt = torch.tensor([3, 3, 7, 7, 11]), torch.tensor([3, 7, 11])
    cases = [((y, yt, None), r"register_tensors\('sparse'\): y_train holds labels 3, 7, 11, which leave class id\(s\) "
                             r"0, 1, 2, 4, 5, 6, 8, 9, 10 of 0..11 without a training sample; expected class ids 0..K-1.*"
                             r"torch.unique.*classes="),
             ((y, yt, ["a", "b", "c"]), r"y_train holds class id\(s\) 3, 7, 11 but classes names 3 class\(es\) \(ids 0..2\)"),
             ((y - 4, yt, None), r"register_tensors\('sparse'\): y_train holds negative label\(s\) -1; labels must be class ids"),
             ((torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 2]), None), r"\(y_test 0, 1, 2\).*class id\(s\) 2 of 0..2"),
             ((torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1]), ["a", "b", "c"]), r"class\(es\) 'c' \(id 2\).*add training")]
    for (ytr, yte, classes), msg in cases:
        with pytest.raises(DataError, match=msg):
            register_tensors("sparse", x, ytr, xt, yte, classes)
    assert "sparse" not in _TENSOR_SETS
    assert register_tensors("dense", x, torch.tensor([0, 0, 1, 1, 2]), xt, torch.tensor([0, 1, 1]), ["a", "b", "c"]) == "dense"
    assert _TENSOR_SETS.pop("dense").classes == ["a", "b", "c"]  # a class absent from the test split is still taken

def test_frame_size_below_four_names_the_key():
    from mmdistill.recipes import video_dm

    with pytest.raises(ConfigError, match=r"frame_size=2: expected 0 .* or at least 4 pixels") as exc:
        video_dm.RECIPE.config(dataset="frames", data_root="x", frame_size=2)
    assert exc.value.key == "frame_size"


def test_the_load_report_reaches_the_manifest_and_the_cli_names_bad_input(tmp_path, capsys):
    from mmdistill.cli import main as cli_main
    from mmdistill.recipes import video_dm

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    (root / "b" / "clip2" / "frame_02.png").write_bytes(b"junk")
    res = video_dm.run(dataset="frames", data_root=str(root), num_frames=4, frame_gap=1, frame_size=8, ipc=1, iterations=1,
                       evaluate=False, progress=False, cache=False, out=str(tmp_path / "run"))
    import json

    rep = json.loads((tmp_path / "run" / "manifest.json").read_text())["synthetic"]["meta"]["load_report"]
    assert res.synthetic.meta["load_report"] == rep
    assert rep["counts"]["unreadable"] == 1 and rep["files"] == {"unreadable": ["b/clip2"]} and rep["counts"]["skipped_short"] == 0
    assert rep["root"] == "data" and str(tmp_path) not in json.dumps(rep)  # names relative to the root, no machine folders
    common = ["--dataset", "frames", "--data-root", str(root), "--num-frames", "4", "--frame-gap", "1", "--frame-size", "8",
              "--ipc", "1", "--iterations", "1", "--no-evaluate", "--no-progress", "--no-cache"]
    code = cli_main(["run", "video-dm", *common, "--strict", "--out", str(tmp_path / "strict")])
    err = capsys.readouterr().err
    assert code == 3 and "b/clip2" in err and "--strict" in err and "Traceback" not in err
    (root / "c").mkdir()
    code = cli_main(["run", "video-dm", *common, "--out", str(tmp_path / "empty-class")])
    err = capsys.readouterr().err
    assert code == 3 and "'c' (0 training clip" in err and "Traceback" not in err


# ------------------------------------------------------------------ networks
@pytest.mark.parametrize("shape", [(1, 8, 32, 32), (3, 8, 64, 64), (3, 4, 16, 16)])
def test_video_networks(shape):
    from mmdistill.nets import build_network

    for name in ("convnet3d", "framepool", "convnet3d-small"):
        net = build_network(name, shape, 5)
        x = torch.randn(2, *shape)
        assert net(x).shape == (2, 5) and net.embed(x).shape[0] == 2
    with pytest.raises(ConfigError, match="clips"):
        build_network("convnet3d", (3, 32, 32), 5)


# ------------------------------------------------------------------ static / dynamic
def _sd_config(**kw):
    from mmdistill.recipes import video_static_dynamic

    base = dict(TINY, ipc=1, static_iterations=2, iterations=2, batch_real=2, dynamic_frames=2, dynamic_size=8)
    return video_static_dynamic.RECIPE.config(**{**base, **kw})


def test_static_dynamic_decode_gradients_and_bytes():
    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.static_dynamic import DYNAMIC, STATIC, WEIGHT, stored_bytes
    from mmdistill.seeding import generator

    cfg = _sd_config()
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    assert syn.data[STATIC].shape == (20, 1, 16, 16) and syn.data[DYNAMIC].shape == (20, 1, 2, 8, 8)
    syn.requires_grad_(True)
    clips = MODALITY.decode(syn)
    assert clips.shape == (40, 1, 4, 16, 16) and len(syn.labels) == 40  # 10 slots x 2 x 2 pairs
    assert syn.labels.tolist()[:8] == [0] * 4 + [1] * 4
    clips.square().mean().backward()
    assert syn.data[DYNAMIC].grad.abs().sum() > 0 and syn.data[WEIGHT].grad.abs().sum() > 0
    assert syn.data[STATIC].grad is None  # frozen after stage 1
    info = stored_bytes(syn)
    assert info["stored_bytes"] == 4 * (20 * 256 + 20 * 2 * 64 + 1 * 2 * 27 + 1) + 8 * 40  # memories, integrator, 40 int64 labels
    assert info["full_clip_bytes"] == 10 * (4 * 4 * 256 + 8) and info["ratio"] == round(info["stored_bytes"] / info["full_clip_bytes"], 4)


def test_static_dynamic_storage_counts_the_live_tensors_without_copying_them(monkeypatch):
    """(Mend 54M.) ``stored_bytes`` counted each part on ``syn.tensors()``, a contiguous CPU copy of every tensor (a set
    on a GPU copied to the host to be measured); it counts ``stored_parts()``, the live tensors, to the same bytes."""
    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.static_dynamic import stored_bytes
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet

    cfg = _sd_config()
    syn = MODALITY.init_synthetic(MODALITY.load(cfg), cfg, generator(0, "init"))
    copies = {k: v.numel() * v.element_size() for k, v in syn.tensors().items()}
    monkeypatch.setattr(SyntheticSet, "tensors", lambda self: (_ for _ in ()).throw(AssertionError("copied")))
    assert syn.stored_parts() == copies and sum(copies.values()) == syn.stored_bytes()
    info = stored_bytes(syn)
    assert info["stored_bytes"] == sum(copies.values()) and sum(info["parts"].values()) == info["stored_bytes"]


def test_static_dynamic_storage_is_one_statement_with_the_card():
    """Before: the summary line said "125.2 KiB stored (39 % of full clips)" (data tensors against classes x ipc clips)
    while the card's Storage section said 125.5 KiB (every stored tensor, labels too) against 40 rendered clips, ratio
    0.098. Both now count the same bytes, and the summary line names both references."""
    from mmdistill.card import size_text, storage_block
    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.static_dynamic import stored_bytes
    from mmdistill.seeding import generator

    cfg = _sd_config()
    data = MODALITY.load(cfg)
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    info = stored_bytes(syn)
    card = storage_block(syn, 4 * 4 * 256, "float32 model inputs of the real training data")  # what report.py writes
    assert info["stored_bytes"] == card["synthetic_bytes"] and info["rendered_clips"] == card["samples"] == 40
    assert info["rendered_clip_bytes"] == card["real_bytes"] and info["rendered_ratio"] == round(card["ratio"], 4)
    label = syn.meta["budget_label"]
    assert f"{size_text(card['synthetic_bytes'])} stored" in label, label
    assert f"{100 * info['ratio']:.0f} % of 10 full clips" in label and f"{100 * card['ratio']:.1f} % of 40 real clips, as many as it renders" in label
    from mmdistill.report import artifact_title

    title = artifact_title({"recipe": "video-static-dynamic", "dataset": "md", "budget_label": label})  # pictures: one line
    assert title == f"video-static-dynamic · md · 1 clip/class, {size_text(card['synthetic_bytes'])} stored", title


def test_identity_integrator_passes_the_static_memory_through():
    from mmdistill.modalities.video.static_dynamic import init_integrator

    w, b = init_integrator(3, 1, "identity", torch.Generator().manual_seed(0))
    w[:, 3:] = 0
    still = torch.randn(1, 3, 1, 6, 6).expand(-1, -1, 4, -1, -1)
    x = torch.cat([still, torch.randn(1, 1, 4, 6, 6)], 1)
    out = torch.nn.functional.conv3d(x, w, b, padding=1)
    assert torch.allclose(out, still, atol=1e-6)


# ------------------------------------------------------------------ recipes
def test_video_dm_run_writes_storage_and_preview(tmp_path):
    from mmdistill.io import load_synthetic
    from mmdistill.modalities.video import MODALITY
    from mmdistill.recipes import video_dm

    res = video_dm.run(**TINY, ipc=1, iterations=2, batch_real=2, out=str(tmp_path / "dm"))
    m = res.manifest
    assert m["metrics"]["storage"]["ratio"] == 1.0 and " stored (" in m["budget_label"]
    assert m["metrics"]["storage"]["stored_bytes"] == m["storage"]["synthetic_bytes"] == m["metrics"]["storage"]["random_real_bytes"]
    assert (tmp_path / "dm" / "preview.png").exists() and (tmp_path / "dm" / "preview.gif").exists()
    # --overwrite removes what the manifest lists as written: the modality's own preview.gif too, also after the
    # finished run is continued in its folder (the files exist then and are written again)
    assert {"preview.gif", "preview.png", "README.md"} <= set(m["written_files"])
    more = video_dm.run(**TINY, ipc=1, iterations=3, batch_real=2, out=str(tmp_path / "dm"), resume=True)
    assert {"preview.gif", "preview.png", "README.md"} <= set(more.manifest["written_files"])
    syn, _ = load_synthetic(tmp_path / "dm")
    out = MODALITY.export(syn, tmp_path / "export")
    assert len(list(out.rglob("*.gif"))) == 10 and (out / "clips.safetensors").exists()


@pytest.mark.parametrize("method", ["dm", "mtt"])
def test_video_static_dynamic_runs(tmp_path, method):
    from mmdistill.io import load_synthetic
    from mmdistill.modalities.video import MODALITY
    from mmdistill.recipes import video_static_dynamic

    cfg = _sd_config(method=method, out=str(tmp_path / method), num_experts=1, expert_train_epochs=2, max_start_epoch=1, syn_steps=2,
                     batch_train=16)
    res = video_static_dynamic.run(cfg)
    st = res.manifest["metrics"]["storage"]
    assert st["stored_bytes"] < st["full_clip_bytes"] and "distilled" in res.manifest["metrics"]
    syn, _ = load_synthetic(tmp_path / method)
    assert MODALITY.decode(syn).shape == (40, 1, 4, 16, 16)
    out = MODALITY.export(syn, tmp_path / f"export-{method}")
    assert (out / "memories.safetensors").exists() and len(list((out / "static").iterdir())) == 20



def test_static_dynamic_mtt_student_steps_take_one_pair_per_slot(tmp_path, monkeypatch):
    """pairs_per_step=one (the reference's default): each student step holds every slot once; all: the rendered clips."""
    from mmdistill.matchers import trajectory
    from mmdistill.recipes import video_static_dynamic

    seen = []
    original = trajectory.TrajectoryMatching.plan

    def spy(self, syn, gen):
        plan = original(self, syn, gen)
        seen.append((None if self.sample_groups is None else self.sample_groups.clone(), [i.clone() for i in plan.indices]))
        return plan

    monkeypatch.setattr(trajectory.TrajectoryMatching, "plan", spy)
    for pairs in ("one", "all"):
        seen.clear()
        video_static_dynamic.run(_sd_config(method="mtt", pairs_per_step=pairs, out=str(tmp_path / pairs), num_experts=1,
                                            expert_train_epochs=2, max_start_epoch=1, syn_steps=2, batch_train=16, eval_runs=1))
        groups, steps = seen[0]
        if pairs == "one":
            assert groups.tolist() == torch.arange(10).repeat_interleave(4).tolist()  # 10 slots x 2 static x 2 dynamic
            assert all(sorted(groups[i].tolist()) == list(range(10)) for i in steps)
        else:
            assert groups is None and all(len(i) == 40 for i in steps)

def test_static_dynamic_divergence_names_its_own_rate_keys(tmp_path):
    """The set's rates are lr_dynamic / lr_integrator, not lr_data: a divergence names those (keys that exist)."""
    import re

    from mmdistill.errors import DivergenceError
    from mmdistill.recipes import video_static_dynamic

    cfg = _sd_config(method="dm", out=str(tmp_path / "sd"), lr_dynamic=1e30, lr_integrator=1e30, iterations=3, evaluate=False)
    with pytest.raises(DivergenceError) as err:
        video_static_dynamic.run(cfg)
    named = set(re.findall(r"\b(lr_\w+)\b", str(err.value)))
    assert {"lr_dynamic", "lr_integrator"} <= named and "lr_data" not in named, str(err.value)
    assert all(hasattr(cfg, k) for k in named)


def test_video_mtt_runs(tmp_path):
    from mmdistill.recipes import video_mtt

    res = video_mtt.run(**TINY, ipc=1, iterations=2, num_experts=1, expert_train_epochs=2, max_start_epoch=1, syn_steps=2, batch_train=16,
                        out=str(tmp_path / "mtt"))
    st = res.manifest["metrics"]["storage"]
    assert st["stored_bytes"] == st["full_clip_bytes"] + 4  # the clips and labels of a full-clip set, and the learned step size
    assert st["stored_bytes"] == res.manifest["storage"]["synthetic_bytes"]  # the card's number



def test_the_video_recipes_matcher_clips_and_reports_at_least_the_minimum(monkeypatch, blobs, tmp_path):
    """The reference clips the learned step size to >= 1e-3 after each update; both video recipes' trajectory
    matcher is the core's own, with ``min_step_size`` 1e-3: an update that overshoots below zero is kept at the
    floor (not refused) and the logged value is the kept one."""
    from types import SimpleNamespace

    from mmdistill.matchers.trajectory import TrajectoryMatching
    from mmdistill.optim import synthetic_optimizer
    from mmdistill.recipes import video_mtt, video_static_dynamic
    from tests.test_trajectory import _buffer, _cfg, _matcher, _syn

    buffer = _buffer(tmp_path, blobs)
    for recipe, ctx in ((video_mtt, SimpleNamespace()),
                        (video_static_dynamic, SimpleNamespace(config=SimpleNamespace(method="mtt", pairs_per_step="one"), syn=None))):
        monkeypatch.setattr(recipe, "make_trajectory_matcher", lambda ctx: _matcher(buffer, "mtt"))
        matcher = recipe.make_matcher(ctx)
        assert type(matcher) is TrajectoryMatching and matcher.min_step_size == video_mtt.MIN_STEP_SIZE
        syn = _syn(blobs, lr=0.5)  # lr_lr 1 takes this step size below 0 (the core's refusal test)
        stats = matcher.step(syn, synthetic_optimizer(syn, _cfg(lr_data=1.0, lr_lr=1.0, momentum_data=0.5)), torch.Generator().manual_seed(0))
        assert float(syn.data["syn_lr"].detach()) == pytest.approx(video_mtt.MIN_STEP_SIZE)
        assert stats["syn_lr"] == pytest.approx(video_mtt.MIN_STEP_SIZE) and matcher.name == "trajectory"


def test_recipes_are_on_the_cli():
    from mmdistill.recipes import RECIPES, TRAJECTORY_RECIPES, get_recipe

    for name in ("video-dm", "video-mtt", "video-static-dynamic"):
        assert name in RECIPES and get_recipe(name).modality == "video"
    assert "video-static-dynamic" in TRAJECTORY_RECIPES
    with pytest.raises(ConfigError, match="method='dc'.*one of dm, mtt, tesla"):
        get_recipe("video-static-dynamic").config(method="dc")


def test_cross_architecture_evaluation_uses_the_clip_networks():
    """Before: cross_arch evaluated video sets on the image list and stopped at 'ConvNet takes (C, H, W) samples'."""
    from types import SimpleNamespace

    from mmdistill.classification import evaluation_networks
    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.nets import CROSS_ARCH

    assert evaluation_networks(SimpleNamespace(cross_arch=True), MODALITY) == list(CROSS_ARCH)
    assert evaluation_networks(SimpleNamespace(cross_arch=False, eval_networks=[], network="convnet3d-small"), MODALITY) == ["convnet3d-small"]
    x = torch.randn(2, 1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    reversed_x = x.flip(2)  # the same frames in the opposite order
    for name in CROSS_ARCH:
        net = MODALITY.build_network(name, (1, 4, 16, 16), 10).eval()
        assert net(x).shape == (2, 10) and net.embed(x).shape[0] == 2, name
        if name in ("framegru", "framelstm"):  # recurrent: frame order matters; the temporal mean is blind to it
            assert not torch.allclose(net.embed(x), net.embed(reversed_x)), name
        if name == "framepool":
            assert torch.allclose(net.embed(x), net.embed(reversed_x), atol=1e-6)


# ------------------------------------------------------------------ layouts, val rows, stray files (user test, session 32)
def _write_avi(path: Path, frames: int = 12, size: int = 40, fps: int = 10) -> Path:
    """A small MJPEG AVI (``frames`` frames of ``size`` x ``size``, a moving square) that decord reads; no encoder needed
    (decord 0.6 cannot decode some widths, 16 and 48 among them: keep the default 40)."""
    from avi_files import write_avi

    images = []
    for t in range(frames):
        a = np.full((size, size, 3), 30, np.uint8)
        a[4:8, t % (size - 4):t % (size - 4) + 4] = (250, 200, 50)
        images.append(a)
    return write_avi(path, images, fps=fps)


def test_clips_csv_in_the_root_names_its_layout_and_the_clips_it_does_not_list(tmp_path, caplog):
    """Before: a clips.csv in the root silently replaced the class folders and the clips it did not list vanished
    (load report all 0, card "nothing skipped"). The layout read is now logged and recorded, the unlisted clips named."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    (root / "clips.csv").write_text("path,label,split\na/clip0,a,train\na/clip1,a,test\nb/clip0,b,train\nb/clip1,b,test\n")
    with caplog.at_level("INFO"):
        vs = load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)
    assert len(vs.x_train) == 2 and len(vs.x_test) == 2
    assert "clips.csv" in vs.report.facts["layout"] and "replaces the class-folder layout" in vs.report.facts["layout"]
    assert "2 clip(s) under the root it does not list left out" in vs.report.facts["layout"]
    assert vs.report.counts()["unused"] == 2 and {r for _, r in vs.report.unused} == {"a folder of frame images not listed in clips.csv"}
    assert vs.report.as_dict()["files"]["unused"] == ["a/clip2", "b/clip2"] and vs.report.as_dict()["facts"]["layout"]
    assert "video layout under" in caplog.text and "clips.csv" in caplog.text and "a/clip2" in caplog.text
    folders = load_clip_folder(_frames_tree(tmp_path / "plain", {"a": 3, "b": 3}), kind="frames", sampling=_sampling(), use_cache=False)
    assert folders.report.facts["layout"].startswith("class folders, test_fraction 0.2")


def test_hidden_entries_under_a_split_file_and_in_an_unused_val_folder_are_named_and_strict_spares_them(tmp_path):
    """The class-folder walk named hidden entries, but a clips.csv root and a val/ beside test/ passed over them (the
    audio-visual loader walked the root a second time to name them). Every layout names them now (``ignored``,
    reason hidden), never a strict error."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 2, "b": 2})
    (root / "clips.csv").write_text("path,label,split\na/clip0,a,train\na/clip1,a,test\nb/clip0,b,train\nb/clip1,b,test\n")
    (root / ".DS_Store").write_bytes(b"x")
    (root / "a" / ".git" / "clip9").mkdir(parents=True)  # a hidden folder: named, not walked into
    (root / "b" / "._clip0").write_bytes(b"x")
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, strict=True)  # named, not an error
    assert sorted(vs.report.as_dict()["files"]["ignored"]) == [".DS_Store", "a/.git", "b/._clip0"]
    assert {why for _, why in vs.report.ignored} == {"hidden"} and vs.report.counts()["unused"] == 0
    tv = tmp_path / "tv"
    for split in ("train", "test", "val"):
        _frames_tree(tv / split, {"a": 2, "b": 2})
    (tv / "val" / "a" / ".DS_Store").write_bytes(b"x")
    vs = load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False, strict=True)
    assert vs.report.as_dict()["files"]["ignored"] == ["val/a/.DS_Store"] and vs.report.counts()["unused"] == 4


def test_split_file_val_rows_are_left_out_beside_test_rows_as_val_folders_are(tmp_path):
    """Before: a CSV's val rows were merged into the scored test split (kinetics-tiny: 20 test clips, 15 of them val)."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    (root / "tv.csv").write_text("path,label,split\na/clip0,a,train\nb/clip0,b,train\na/clip1,a,test\nb/clip1,b,test\n"
                                 "a/clip2,a,val\nb/clip2,b,validation\n")
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "tv.csv"), use_cache=False)
    assert len(vs.x_train) == 2 and len(vs.x_test) == 2
    assert vs.report.counts()["unused"] == 2 and vs.report.as_dict()["files"]["unused"] == ["a/clip2", "b/clip2"]
    assert {r for _, r in vs.report.unused} == {"a val row of tv.csv: its test rows are the held-out split"}
    assert "2 val row(s) left out" in vs.report.facts["layout"]
    # a standard train/val/test file is not an error under --strict (the val rows are left out by design, and named)
    assert len(load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "tv.csv"), use_cache=False,
                                strict=True).x_test) == 2
    (root / "v.csv").write_text("path,label,split\na/clip0,a,train\nb/clip0,b,train\na/clip1,a,val\nb/clip1,b,val\n"
                                "a/clip2,a,train\nb/clip2,b,train\n")
    only_val = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "v.csv"), use_cache=False)
    assert len(only_val.x_test) == 2 and only_val.report.counts()["unused"] == 0  # no test rows: val is the test split
    assert "val rows are the test split" in only_val.report.facts["layout"]


def test_ucf_split_lines_with_spaces_in_the_class_folder(tmp_path):
    """Before: ``Move Right/clip0 1`` was cut at the first space ('Move' has no class folder)."""
    from mmdistill.modalities.video.datasets import load_clip_folder
    from mmdistill.modalities.video.split_ucf import _ucf_path

    assert _ucf_path("Move Right/v_x.avi 1") == "Move Right/v_x.avi" and _ucf_path("Move Right/v_x.avi") == "Move Right/v_x.avi"
    assert _ucf_path("A/b.avi\t12 ") == "A/b.avi" and _ucf_path("  ") is None and _ucf_path("A/b 2.avi") == "A/b 2.avi"
    root = _frames_tree(tmp_path / "data", {"Move Right": 2, "Move Left": 2})
    (root / "trainlist01.txt").write_text("Move Right/clip0 1\nMove Left/clip0 2\n")
    (root / "testlist01.txt").write_text("Move Right/clip1\nMove Left/clip1\n")
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "trainlist01.txt"), use_cache=False)
    assert vs.classes == ["Move Left", "Move Right"] and len(vs.x_train) == 2 and len(vs.x_test) == 2
    assert vs.report.facts["layout"] == "UCF101 split files trainlist01.txt + testlist01.txt"


def test_a_file_that_is_not_a_video_is_named_not_decoded_and_decord_stays_quiet(tmp_path, capfd):
    """Before: notes.txt in a class folder was handed to decord (which reads a text file as a 1-frame clip, or prints
    "ERROR opening"); broken files printed decord's raw C++ lines. Only video types are read; the others are named."""
    pytest.importorskip("decord")
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = tmp_path / "vids"
    for cls in ("left", "right"):
        for i in range(3):
            _write_avi(root / cls / f"{cls}{i}.avi")
    (root / "left" / "notes.txt").write_text("x")
    (root / "right" / "broken.avi").write_bytes(b"RIFF\0\0\0\0AVI junk")
    capfd.readouterr()
    vs = load_clip_folder(root, sampling=_sampling(frame_size=32), use_cache=False)
    err = capfd.readouterr().err
    assert vs.x_train.shape[1:] == (3, 4, 32, 32) and len(vs.x_train) + len(vs.x_test) == 6
    assert [(Path(p).name, r) for p, r in vs.report.ignored] == [("notes.txt", "not a video file (.txt: not a video type the loader reads)")]
    assert [Path(p).name for p, _ in vs.report.unreadable] == ["broken.avi"]
    assert "ERROR opening" not in err and "video_reader.cc" not in err, err  # decord's native line is kept off stderr ...
    assert "Invalid data" in vs.report.unreadable[0][1]  # ... and its reason goes into our own message


def test_a_frames_tree_read_as_video_files_gets_the_frames_hint(tmp_path):
    """Frame images in clip folders read with kind='files' (``--dataset folder``): no clip, and the error says the
    frames loader reads them (the hint had become unreachable once frame images were 'ignored' by type)."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 2, "b": 2})
    with pytest.raises(DataError, match=r"no clips found under .*frame images were found: --dataset frames reads one folder"):
        load_clip_folder(root, kind="files", sampling=_sampling(), use_cache=False)


def test_a_drawn_split_names_a_class_left_without_a_test_clip(tmp_path, caplog):
    """Class folders without a split: 20 % of a 2-clip class rounds to no test clip; it was trained on and never scored,
    without a word. Now a warning names it and the report holds classes_without_test, from a cached load too."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 5, "b": 2})
    for _ in range(2):  # decoded, then read from the cache
        caplog.clear()
        with caplog.at_level("WARNING"):
            vs = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "cache")
        assert vs.report.facts["classes_without_test"] == ["b"]
        assert "class(es) 'b' have training clips but no test clip" in caplog.text
    assert vs.report.facts["cache"].startswith("hit")


# ------------------------------------------------------------------ walkthrough 33E: frame order, 16-bit frames, the cache, GIF frames
def _numbered_clip(d: Path, names: list[str], mode: str = "RGB") -> None:
    """A clip folder ``d``: frame ``names[i]`` has intensity 10 * i + 5 (8 x 8; ``I;16``: the same level x 257)."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        level = 10 * i + 5
        if mode == "I;16":
            Image.fromarray(np.full((8, 8), level * 257, dtype=np.uint16)).save(d / name)
        else:
            Image.new("RGB", (8, 8), (level,) * 3).save(d / name)


def _levels(x: torch.Tensor) -> list[int]:
    """The intensity of each frame of one clip (C, T, H, W) in [0, 1], as 0..255."""
    return [round(float(v) * 255) for v in x[0, :, 0, 0]]


def test_frame_images_are_read_in_natural_order_not_text_order(tmp_path):
    """frame_1 ... frame_12 (no zero padding) were read as 1, 10, 11, 12, 2, ...: clips scrambled in time."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    names = [f"frame_{i}.png" for i in range(1, 13)]
    for split in ("train", "test"):
        _numbered_clip(tmp_path / "data" / split / "a" / "c0", names)
    vs = load_clip_folder(tmp_path / "data", kind="frames", sampling=_sampling(num_frames=12, frame_size=None, offset="center"),
                          use_cache=False)
    assert _levels(vs.x_train[0]) == [10 * i + 5 for i in range(12)]


def test_a_rawframes_clip_folder_gives_its_img_frames_and_names_the_flow(tmp_path, caplog):
    """mmaction2's rawframes layout: img_ (RGB) beside x_/y_ (optical flow) in one clip folder; all were read as frames."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = tmp_path / "tsn"
    for split in ("train", "test"):
        d = root / split / "a" / "c0"
        _numbered_clip(d, [f"img_{i:05d}.jpg" for i in range(1, 5)])
        for flow in ("x", "y"):
            from PIL import Image

            for i in range(1, 5):
                Image.new("L", (8, 8), 128).save(d / f"{flow}_{i:05d}.jpg")
    with caplog.at_level("WARNING"):
        vs = load_clip_folder(root, kind="frames", sampling=_sampling(num_frames=4, frame_size=None), use_cache=False, strict=True)
    assert [abs(v - (10 * i + 5)) <= 2 for i, v in enumerate(_levels(vs.x_train[0]))] == [True] * 4  # JPEG: near
    assert sorted(Path(p).name for p, _ in vs.report.unused) == ["x_*", "x_*", "y_*", "y_*"]
    assert vs.report.unused[0][1] == "4 image(s) of another sequence; the clip is its img_* frames (mmaction2's rawframes layout)"
    assert "clip(s) or frame sequence(s) the layout leaves out" in caplog.text
    # several sequences and none of them RGB: refused, naming the prefixes
    other = tmp_path / "two"
    for split in ("train", "test"):
        _numbered_clip(other / split / "a" / "c0", [f"left_{i}.png" for i in range(4)] + [f"right_{i}.png" for i in range(4)])
    with pytest.raises(DataError, match=r"c0 holds 2 image sequences .*left_\* \(4\), right_\* \(4\).*one sequence per clip"):
        load_clip_folder(other, kind="frames", sampling=_sampling(), use_cache=False)


def test_16_bit_png_frames_are_scaled_to_8_bits_not_saturated(tmp_path):
    """I;16 frames went through convert("RGB") and came out solid white."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    for split in ("train", "test"):
        _numbered_clip(tmp_path / "data" / split / "a" / "c0", [f"f{i:02d}.png" for i in range(4)], mode="I;16")
    vs = load_clip_folder(tmp_path / "data", kind="frames", sampling=_sampling(frame_size=None), use_cache=False)
    assert _levels(vs.x_train[0]) == [5, 15, 25, 35]  # (10 i + 5) x 257 / 257, exactly
    assert vs.x_train.shape[1] == 3 and torch.equal(vs.x_train[0, 0], vs.x_train[0, 2])


def test_frames_replaced_under_the_same_names_are_decoded_again_not_a_stale_cache_hit(tmp_path):
    """The key took the clip folder's own size and time, which overwriting frames in place does not change."""
    import os

    from mmdistill.modalities.video.datasets import load_clip_folder

    root = tmp_path / "data"
    for split in ("train", "test"):
        _numbered_clip(root / split / "a" / "c0", [f"f{i}.png" for i in range(4)])
    first = load_clip_folder(root, kind="frames", sampling=_sampling(frame_size=None), cache_dir=tmp_path / "c")
    clip = root / "train" / "a" / "c0"
    st = clip.stat()
    from PIL import Image

    for i in range(4):  # same names, new pixels; the folder's size and time stay as they were
        Image.new("RGB", (8, 8), (200,) * 3).save(clip / f"f{i}.png")
    os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = load_clip_folder(root, kind="frames", sampling=_sampling(frame_size=None), cache_dir=tmp_path / "c")
    assert _levels(first.x_train[0]) == [5, 15, 25, 35]
    assert again.report.cache.startswith("wrote") and _levels(again.x_train[0]) == [200] * 4


def test_a_cache_hit_and_a_cache_write_say_so_on_the_log(tmp_path, caplog):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    for verb in ("cached in", "read from the cache"):
        caplog.clear()
        with caplog.at_level("INFO", logger="mmdistill.modalities.video.datasets"):
            vs = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
        (cache,) = (tmp_path / "c").glob("*.safetensors")
        lines = [r for r in caplog.records if ".safetensors" in r.getMessage() and r.levelname == "INFO"]
        assert len(lines) == 1 and verb in lines[0].getMessage() and str(cache) in lines[0].getMessage()
    assert vs.report.cache == f"hit {cache.name}"


def test_a_cache_that_cannot_be_written_or_read_is_a_warning_not_the_end_of_the_run(tmp_path, monkeypatch, caplog):
    """A file where the cache folder should be, MMDISTILL_CACHE naming a file, a location the system refuses: the
    clips were all decoded, then the run stopped (raw FileExistsError / NotADirectoryError / PermissionError)."""
    from pathlib import Path as P

    import safetensors.torch

    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.setenv("MMDISTILL_CACHE", str(afile))
    for cache_dir in (afile, None):  # --cache-dir afile, MMDISTILL_CACHE=afile (cache in afile/video)
        caplog.clear()
        with caplog.at_level("WARNING"):
            vs = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=cache_dir)
        assert len(vs.x_train) + len(vs.x_test) == 6 and vs.report.cache.startswith("not written")
        assert "cannot be written" in caplog.text and f"{afile} is a file, not a folder" in caplog.text
    monkeypatch.delenv("MMDISTILL_CACHE")

    def refused(*a, **k):
        raise PermissionError(1, "Operation not permitted")

    with monkeypatch.context() as m:
        m.setattr(safetensors.torch, "save_file", refused)
        caplog.clear()
        with caplog.at_level("WARNING"):
            vs = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
        assert vs.report.cache.startswith("not written") and "PermissionError: Operation not permitted" in caplog.text
        assert not list((tmp_path / "c").glob(".*.tmp"))
    exists = P.exists

    def no_look(self, *a, **k):
        if self.suffix == ".safetensors":
            raise PermissionError(13, "Permission denied")
        return exists(self, *a, **k)

    with monkeypatch.context() as m:
        m.setattr(P, "exists", no_look)
        caplog.clear()
        with caplog.at_level("WARNING"):
            vs = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c")
        assert len(vs.x_train) + len(vs.x_test) == 6 and "cannot be read (PermissionError: Permission denied)" in caplog.text


def test_a_corrupt_frame_names_its_clip_in_the_warning(tmp_path, caplog):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    (root / "a" / "clip1" / "frame_02.png").write_bytes(b"not a png")
    with caplog.at_level("WARNING"):
        vs = load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)
    line = next(r.getMessage() for r in caplog.records if "unreadable" in r.getMessage())
    assert f"{root / 'a' / 'clip1'} (frame_02.png: cannot identify image file)" in line
    assert vs.report.unreadable == [(str(root / "a" / "clip1"), "frame_02.png: cannot identify image file")]


def test_exported_gifs_keep_every_frame_of_a_clip_that_holds_still(tmp_path):
    """Pillow's save_all merged identical frames: a 5-frame clip (3 alike, then 2 alike) became a 2-frame GIF."""
    from PIL import Image, ImageSequence

    from mmdistill.modalities.video.export import _save_gif

    torch.manual_seed(0)
    for c in (3, 1):
        a, b = torch.rand(c, 1, 8, 8), torch.rand(c, 1, 8, 8)
        path = _save_gif([torch.cat([a, a, a, b, b], 1)], tmp_path / f"c{c}.gif")
        with Image.open(path) as im:
            assert im.n_frames == 5 and im.info.get("loop") == 0
            frames = [(np.asarray(f.convert("RGB")).copy(), f.info.get("duration")) for f in ImageSequence.Iterator(im)]
        assert [d for _, d in frames] == [120] * 5
        same = [bool((f == frames[0][0]).all()) for f, _ in frames]
        assert same == [True, True, True, False, False]
        if c == 1:  # grayscale: exact pixels, upscaled x8
            assert np.array_equal(frames[3][0][::8, ::8, 0], (b[0, 0] * 255).round().numpy().astype(np.uint8))


def test_ffmpeg_lines_captured_while_decord_reads_stay_off_the_terminal(capsys, caplog):
    """decord's demuxer lets ffmpeg write ``[mov,mp4,... @ 0x...] moov atom not found`` to descriptor 2 beside decord's
    own C++ lines; the video loader wrote it back to the terminal (only decord's lines were recognised). Now it is a
    DEBUG line naming the file; decord's lines are returned; anything else is still written back."""
    import logging

    from mmdistill.modalities.video.decode import _native_lines

    captured = ["[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d3c18b6e80] moov atom not found\n",
                "[17:45:44] /github/workspace/src/video/video_reader.cc:83: ERROR opening: a.mp4, Invalid data\n",
                "another thread's line\n"]
    with caplog.at_level(logging.DEBUG, logger="mmdistill"):
        said = _native_lines(captured, "clips/a.mp4")
    assert said == ["ERROR opening: a.mp4, Invalid data"]
    err = capsys.readouterr().err
    assert "moov atom" not in err and "another thread's line" in err
    assert "ffmpeg on clips/a.mp4: [mov,mp4" in caplog.text


# ------------------------------------------------------------------ walk 35C: a user's own video files
def test_a_new_empty_class_folder_is_refused_on_a_cache_hit_too(tmp_path):
    """The cache key held the clips only: an empty class folder made after a cached load was a hit, and the run went
    on with the old classes (with no cache: refused by name). The layout's classes are in the key."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3})
    load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "cache")
    (root / "c_new").mkdir()
    with pytest.raises(DataError, match=r"class\(es\) without a usable training clip .*'c_new'"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("made_first", ["train", "Train"])
def test_split_folders_differing_only_in_case_are_refused_whatever_the_listing_order(tmp_path, made_first):
    """train/ and Train/ beside test/: split folders are matched without case, and the tree read was the one the file
    system listed last (another file system, or the two made in the other order, read the other tree, silently)."""
    from mmdistill.modalities.video.datasets import discover

    root = tmp_path / "data"
    for split in (made_first, "train" if made_first == "Train" else "Train", "test"):
        _frames_tree(root / split, {"a": 1, "b": 1}, size=(8, 8), frames=2)
    with pytest.raises(DataError, match=r"differ only in case \(Train/, train/\)"):
        discover(root, "frames", None, 0.3, 0)
    shutil.rmtree(root / "Train")  # one of them: read as before
    assert {it.split for it in discover(root, "frames", None, 0.3, 0)} == {"train", "test"}


def test_hidden_files_links_and_broken_links_in_class_folders_are_named_and_strict_spares_hidden_ones(tmp_path):
    """The video walk dropped hidden files, broken links and linked folders without a word (strict too); it names
    them as the image and audio loaders do: hidden entries listed (never a strict error), the rest strict errors."""
    from mmdistill.modalities.video.datasets import discover, load_clip_folder
    from mmdistill.load_report import LoadReport

    root = tmp_path / "data"
    for c in ("a", "b"):
        for i in range(3):
            _write_avi(root / c / f"{c}{i}.avi")
    (root / "a" / ".hidden.avi").write_bytes((root / "a" / "a0.avi").read_bytes())
    (root / ".DS_Store").write_bytes(b"x")
    report = LoadReport()
    discover(root, "files", None, 0.3, 0, report=report)
    assert sorted(Path(p).name for p, why in report.items("ignored") if why == "hidden") == [".DS_Store", ".hidden.avi"]
    vs = load_clip_folder(root, sampling=_sampling(), strict=True, use_cache=False)  # hidden: named, not an error
    assert len(vs.x_train) + len(vs.x_test) == 6 and vs.report.counts()["ignored"] == 2
    (root / "b" / "gone.avi").symlink_to(root / "b" / "missing.avi")
    (root / "b" / "more").symlink_to(root / "a", target_is_directory=True)
    report = LoadReport()
    discover(root, "files", None, 0.3, 0, report=report)
    reasons = {Path(p).name: why for p, why in report.items("ignored")}
    assert reasons["gone.avi"] == "broken link or not a regular file" and reasons["more"] == "link to a folder, not followed"
    with pytest.raises(DataError, match=r"gone.avi \(ignored: broken link"):
        load_clip_folder(root, sampling=_sampling(), strict=True, use_cache=False)


def test_the_random_frame_offset_does_not_depend_on_how_the_root_is_spelled(tmp_path, monkeypatch):
    """The offset was seeded by the path as typed: a relative and an absolute data_root gave other frames of the same
    clips (and a cache hit hid it). It is seeded by the clip's path under the root."""
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = _frames_tree(tmp_path / "data", {"a": 3, "b": 3}, frames=12)
    monkeypatch.chdir(tmp_path)
    spelled = [load_clip_folder(r, kind="frames", sampling=_sampling(frame_gap=1), use_cache=False).x_train
               for r in ("data", str(root), "./data/../data")]
    assert all(torch.equal(spelled[0], x) for x in spelled[1:])
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(root, moved)
    assert torch.equal(load_clip_folder(moved, kind="frames", sampling=_sampling(frame_gap=1), use_cache=False).x_train, spelled[0])


def test_gif_clips_are_read_with_pillow_and_an_export_reads_back(tmp_path):
    """decord cannot read a GIF (the export's own clip format): every GIF was unreadable. GIFs are decoded with
    Pillow, sampled and resized as other clips."""
    from PIL import Image

    from mmdistill.modalities.video.datasets import load_clip_folder

    root = tmp_path / "gifs"
    for c, colour in (("red", (250, 0, 0)), ("blue", (0, 0, 250))):
        (root / c).mkdir(parents=True)
        for i in range(3):
            frames = [Image.new("RGB", (12, 12), tuple(min(255, v + 20 * t) for v in colour)) for t in range(6)]
            frames[0].save(root / c / f"{i}.gif", save_all=True, append_images=frames[1:], duration=100)
    vs = load_clip_folder(root, sampling=_sampling(), use_cache=False)
    assert vs.x_train.shape[1:] == (3, 4, 8, 8) and vs.report.counts()["unreadable"] == 0
    red = vs.x_train[vs.y_train == vs.classes.index("red")]
    assert (red[:, 0] > red[:, 2]).all()


def test_a_split_file_naming_one_clip_through_a_link_and_its_target_is_refused(tmp_path):
    from mmdistill.modalities.video.datasets import load_clip_folder

    root = tmp_path / "data"
    for i in range(2):
        _write_avi(root / "a" / f"a{i}.avi")
        _write_avi(root / "b" / f"b{i}.avi")
    (root / "a" / "a1_link.avi").symlink_to(root / "a" / "a1.avi")
    (root / "clips.csv").write_text("path,label,split\na/a0.avi,a,train\na/a1.avi,a,train\na/a1_link.avi,a,test\n"
                                    "b/b0.avi,b,train\nb/b1.avi,b,test\n")
    with pytest.raises(DataError, match=r"names .*a1_link.avi more than once \(as .*a1.avi: the same file through a link\) "
                                        r"\(train and test\)"):
        load_clip_folder(root, sampling=_sampling(), use_cache=False)


def test_export_files_take_the_users_file_mode_and_the_class_list_is_json(tmp_path):
    """clips.safetensors and memories.safetensors were written owner-only (safetensors' save_file makes 0600) and
    their class list was joined with commas (a class "run, jump" read back as two)."""
    import json
    import os

    from safetensors import safe_open

    from mmdistill.modalities.video.export import export_video_set
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet(data={"x": torch.rand(2, 1, 3, 4, 4)}, labels=torch.tensor([0, 1]), num_classes=2,
                       meta={"classes": ["run, jump", "typing"], "mean": [0.5], "std": [0.25]})
    old = os.umask(0o022)
    try:
        out = export_video_set(syn, syn.data["x"], tmp_path / "export")
    finally:
        os.umask(old)
    assert oct((out / "clips.safetensors").stat().st_mode & 0o777) == oct(0o644)
    with safe_open(str(out / "clips.safetensors"), "pt") as fh:
        assert json.loads(fh.metadata()["classes"]) == ["run, jump", "typing"]


def test_static_dynamic_names_ipc_x_memories_when_a_class_has_too_few_clips():
    """A 1-clip class at ipc 1 was refused as "fewer than ipc=2; lower ipc" (stage 1 needs ipc x memories clips)."""
    from mmdistill.data import LabeledTensors
    from mmdistill.modalities.video.static_dynamic import init_static_dynamic

    train = LabeledTensors(torch.rand(3, 1, 4, 8, 8), torch.tensor([0, 0, 1]), ["a", "b"])
    with pytest.raises(DataError, match=r"class 'b' \(index 1\) has 1 training samples, fewer than ipc x memories=2"):
        init_static_dynamic(train, _sd_config(ipc=1, memories=2), torch.Generator().manual_seed(0), None, {})


def test_eval_with_a_network_that_cannot_take_clips_names_the_key_before_training(tmp_path, capsys):
    """Walk 35A D9: `eval --networks lenet` on a set whose samples the network cannot take gave a bare error after
    the data and the herding baseline were prepared; `run` named the key and the modality's list. eval does too."""
    from mmdistill.cli import main
    from mmdistill.recipes import video_dm

    video_dm.run(**TINY, ipc=1, iterations=1, batch_real=2, baselines=[], out=str(tmp_path / "dm"))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "dm"), "--networks", "lenet", "--runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "eval_networks" in err and "convnet3d" in err.lower(), err


def test_dynamic_memories_are_never_larger_than_the_clips(caplog):
    """Walk 35C #12: the cpu budget's 4 x 12x12 dynamic memories on 8x8 clips made the "compressed" set 222 % of the
    full clips (downsampled, where the docs say upsampled). They are clamped to the clips' frames and size, with a warning."""
    import logging

    from mmdistill.data import LabeledTensors
    from mmdistill.modalities.video.static_dynamic import DYNAMIC, init_static_dynamic

    train = LabeledTensors(torch.rand(8, 1, 3, 8, 8), torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]), ["a", "b"])
    with caplog.at_level(logging.WARNING):
        syn = init_static_dynamic(train, _sd_config(dynamic_frames=4, dynamic_size=12), torch.Generator().manual_seed(0), None, {})
    assert tuple(syn.data[DYNAMIC].shape[2:]) == (3, 8, 8) and "larger than the 3 x 8x8 clips" in caplog.text


def test_decord_reasons_are_plain_and_a_split_file_in_another_unicode_form_finds_its_clips(tmp_path):
    """Walk 35C #11: "Check failed: st_nb >= 0 ... cannot find video stream with wanted index: -1" for an audio-only
    file; a reason cut mid-path from its end; a CSV listing `Café` composed while the disk holds it decomposed said
    the clips "do not exist". (A CSV given as the root still names the set after the file: expert buffers record it.)"""
    import unicodedata

    from mmdistill.modalities.video.datasets import load_clip_folder
    from mmdistill.modalities.video.decode import plain_reason

    assert plain_reason("[20:18:29] /src/video/video_reader.cc:151: Check failed: st_nb >= 0 (-1381258232 vs. 0) ERROR "
                        "cannot find video stream with wanted index: -1").startswith("no video stream decord can decode")
    long = "/github/workspace/src/video/ffmpeg/threaded_decoder.cc:218: Check failed: avcodec_send_packet " + "x" * 300
    assert plain_reason(long).startswith("Check failed: avcodec_send_packet") and len(plain_reason(long)) == 160
    root = tmp_path / "data"
    cafe = unicodedata.normalize("NFD", "Café")
    for c in (cafe, "b"):
        for i in range(2):
            _write_avi(root / c / f"{i}.avi")
    composed = unicodedata.normalize("NFC", "Café")
    (root / "clips.csv").write_text("".join(f"{c}/{i}.avi,{c},{s}\n" for c in (composed, "b") for i, s in ((0, "train"), (1, "test"))),
                                    encoding="utf-8")
    vs = load_clip_folder(root / "clips.csv", sampling=_sampling(), use_cache=False)
    assert len(vs.x_train) == 2 and len(vs.x_test) == 2 and vs.name == "clips.csv"  # as before (buffers name it so)


def test_a_gif_whose_still_frames_were_merged_reads_back_every_frame(tmp_path):
    """Walk 38: Pillow's save_all merges a frame equal to the one before into it (its time added), and the loader read
    11 frames of a 12-frame clip; a frame shown twice as long is two frames."""
    from PIL import Image

    from mmdistill.modalities.video.decode import _decode_gif, _gif_repeats

    frames = [Image.new("RGB", (8, 8), (20 * t, 0, 0)) for t in range(11)] + [Image.new("RGB", (8, 8), (200, 0, 0))]
    path = tmp_path / "still_end.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    with Image.open(path) as im:
        assert im.n_frames == 11  # the encoder merged the last two
    pixels, count, _ = _decode_gif(path, _sampling(num_frames=12, frame_gap=1), "k")
    assert count == 12 and pixels is not None and pixels.shape[0] == 12
    assert _gif_repeats([100, 200, 100]) == [1, 2, 1] and _gif_repeats([100, None]) == [1, 1] and _gif_repeats([0, 50]) == [1, 1]


# ------------------------------------------------------------------ in-memory clips: odd channels, constant channels, snapshots
@pytest.mark.parametrize("c", [1, 2, 3, 4, 5])
def test_preview_and_export_draw_clips_of_any_channel_count(tmp_path, monkeypatch, c):
    """2-channel clips (optical flow x/y) failed in matplotlib after the whole run ("Invalid shape (8, 8, 2)"): channel 0
    is drawn as grey, and C > 3 as channels 0-2; the title says so. C = 1 and 3 are drawn as they are, untitled. The
    preview GIF names each clip's class under it (it had no labels: which clip was which class?)."""
    from mmdistill.modalities.video import export
    from mmdistill.synthetic import SyntheticSet

    titles, real_save = [], export.save_figure
    monkeypatch.setattr(export, "save_figure",
                        lambda fig, path: titles.append(fig._suptitle.get_text() if fig._suptitle else "") or real_save(fig, path))
    syn = SyntheticSet({"x": torch.rand(2, c, 3, 8, 8)}, torch.tensor([0, 1]), 2, meta={"mean": [0.0] * c, "std": [1.0] * c})
    export.save_video_preview(syn, syn.data["x"], tmp_path / "p.png")
    assert (tmp_path / "p.png").exists() and (tmp_path / "p.gif").exists()
    assert titles == [{2: "channel 0 of 2 shown as grey", 4: "channels 0-2 of 4 shown as RGB",
                       5: "channels 0-2 of 5 shown as RGB"}.get(c, "")]
    img = export._frame_image(syn.data["x"][0, :, 0])
    assert img.shape == ((8, 8) if c in (1, 2) else (8, 8, 3))
    assert np.array_equal(img if c in (1, 2) else img[..., 0], (syn.data["x"][0, 0, 0] * 255).round().numpy().astype(np.uint8))
    from PIL import Image

    with Image.open(tmp_path / "p.gif") as gif:  # the clips upscaled to 64 px, each class's name drawn under its clip
        assert gif.size == (128, 64 + 16) and gif.n_frames == 3
        under = np.asarray(gif.convert("L"))[64:]
        assert all((under[:, j * 64:(j + 1) * 64] < 128).any() for j in range(2))
    out = export.export_video_set(syn, syn.data["x"], tmp_path / "export")
    assert len(list(out.rglob("*.gif"))) == 2


def test_a_constant_training_channel_gets_std_one_and_a_warning(caplog):
    """A channel constant in the training clips was divided by clamp_min(1e-6): test clips x 1e6 (0 % accuracy)."""
    from mmdistill.modalities.video import MODALITY, register_tensors
    from mmdistill.modalities.video.adapter import _TENSOR_SETS
    from mmdistill.recipes import video_dm

    g = torch.Generator().manual_seed(0)
    x, xt = torch.rand(4, 3, 2, 8, 8, generator=g), torch.rand(2, 3, 2, 8, 8, generator=g)
    x[:, 1] = 0.25
    x[:, 2] = 0.5 + 1e-4 * torch.rand(4, 2, 8, 8, generator=g)  # small but not constant: its std is kept
    y = torch.tensor([0, 0, 1, 1])
    register_tensors("const-channel", x, y, xt, torch.tensor([0, 1]))
    try:
        with caplog.at_level(logging.WARNING):
            data = MODALITY.load(video_dm.RECIPE.config(dataset="const-channel"))
    finally:
        _TENSOR_SETS.pop("const-channel")
    std, before = data.meta["std"], x.std(dim=(0, 2, 3, 4)).clamp_min(1e-6).tolist()  # before: every channel clamped
    assert std[1] == 1.0 and before[1] < 1.1e-6 and std[0] == before[0] and std[2] == before[2] and 1e-6 < std[2] < 1e-3
    assert "const-channel: 1 of 3 channel(s) of the training clips are constant (std < 1e-6): channel(s) 1" in caplog.text
    assert float(data.test.x[:, 1].abs().max()) <= 1.0


def test_registered_clips_are_snapshots_detached_from_autograd():
    """Clips that required grad failed in evaluation ("backward through the graph a second time") and wrote the
    caller's .grad; int64 labels were kept by reference, so a later edit relabelled the registered set."""
    from mmdistill.modalities.video import register_tensors
    from mmdistill.modalities.video.adapter import _TENSOR_SETS

    w = torch.ones(1, requires_grad=True)
    x, y = torch.rand(4, 1, 2, 8, 8) * w, torch.tensor([0, 0, 1, 1])
    xt, yt = torch.rand(2, 1, 2, 8, 8), torch.tensor([0, 1])
    register_tensors("snap", x, y, xt, yt)
    vs = _TENSOR_SETS.pop("snap")
    assert not vs.x_train.requires_grad and vs.x_train.grad_fn is None and w.grad is None
    kept = (vs.x_train.clone(), vs.y_train.clone(), vs.x_test.clone(), vs.y_test.clone())
    with torch.no_grad():
        x.zero_()
    y[:] = 1 - y
    xt.zero_()
    yt[:] = 1 - yt
    assert all(torch.equal(a, b) for a, b in zip(kept, (vs.x_train, vs.y_train, vs.x_test, vs.y_test)))


def test_in_memory_test_split_without_a_class_is_named_and_on_the_card(caplog):
    from mmdistill.card import loading_counts
    from mmdistill.modalities.video import MODALITY, register_tensors
    from mmdistill.modalities.video.adapter import _TENSOR_SETS
    from mmdistill.recipes import video_dm

    x, y = torch.rand(4, 1, 2, 8, 8), torch.tensor([0, 0, 1, 1])
    with caplog.at_level(logging.WARNING):
        register_tensors("untested", x, y, x[:2], torch.tensor([0, 0]), ["cat", "dog"])
    assert "untested: class(es) 'dog' have training clips but no test clip" in caplog.text
    try:
        meta = MODALITY.load(video_dm.RECIPE.config(dataset="untested")).meta
        full = MODALITY.load(video_dm.RECIPE.config(dataset="moving-digits", md_train_per_class=2, md_test_per_class=1,
                                                    md_frames=2, md_size=16)).meta
    finally:
        _TENSOR_SETS.pop("untested")
    assert "not scored: `dog`" in loading_counts({"synthetic": {"meta": meta}})
    assert "load_report" not in full  # generated data, every class tested: no load report, as before


def test_classes_given_as_one_string_are_refused():
    """classes="cat" was split into the names 'c', 'a', 't'."""
    from mmdistill.modalities.video import register_tensors
    from mmdistill.modalities.video.adapter import _TENSOR_SETS

    x, y = torch.rand(3, 1, 2, 8, 8), torch.tensor([0, 0, 0])
    with pytest.raises(DataError, match=r"register_tensors\('str-classes'\): classes must be a list of class names, got the "
                                        r"string 'cat' \(it would be read as 3 one-letter names\)"):
        register_tensors("str-classes", x, y, x, y, classes="cat")
    assert "str-classes" not in _TENSOR_SETS


# ------------------------------------------------------------------ untrusted input (walk39D)
from mmdistill.modalities.video.datasets import load_clip_folder  # noqa: E402
def test_clips_too_large_for_memory_are_refused_before_decoding(tmp_path, monkeypatch):
    from mmdistill.modalities.video import datasets

    root = _frames_tree(tmp_path / "r", {"a": 2, "b": 2}, frames=2)
    (root / "clips.csv").write_text("path,label,split\na/clip0,a,train\na/clip1,a,test\nb/clip0,b,train\nb/clip1,b,test\n")
    decoded = []
    monkeypatch.setattr(datasets, "_decode_frame_dir", lambda *a: decoded.append(a) or (None, 0, "skip"))
    for kw, says in (({"num_frames": 10**9}, r"num_frames=1000000000 frames \(frame_size=8, 8x8\)"),
                     ({"frame_size": 100000}, r"num_frames=4 frames \(frame_size=100000, 100000x100000\)")):
        with pytest.raises(ConfigError, match=rf"4 clips of {says} need about [\d,.]+ GiB of memory .* or memory_check=false"):
            load_clip_folder(root / "clips.csv", kind="frames", sampling=_sampling(**kw), use_cache=False)
    assert not decoded
    with pytest.raises(DataError, match="no decodable clip"):  # memory_check=false: decoding goes on
        load_clip_folder(root / "clips.csv", kind="frames", sampling=_sampling(frame_size=100000), check_memory=False,
                         use_cache=False)
    assert len(decoded) == 4


#: _fingerprint of two fixed items (stamps "1|2|3|4") under FrameSampling() and FrameSampling(seed=1, frame_size=8), as
#: computed while check_memory was a FrameSampling field stripped from the key (the keys of existing caches)
KEYS_BEFORE_40B = ["3dfee38d6f57734e856eed6f", "57eab8256d5c36c06e91b58b"]


def test_memory_check_is_a_load_argument_the_adapter_passes_not_a_decode_setting(tmp_path, monkeypatch):
    """check_memory was a FrameSampling field that the cache key had to strip again; it is now an argument of
    load_clip_folder (as the image and audio loaders take it) that the adapter passes from the config's memory_check. The
    cache key of the decode settings is the one it was (fixed values below, computed before the change)."""
    import dataclasses
    import json

    from mmdistill.modalities.video import adapter, clip_cache, datasets
    from mmdistill.modalities.video.config import VideoDistillConfig
    from mmdistill.modalities.video.datasets import FrameSampling

    assert "check_memory" not in {f.name for f in dataclasses.fields(FrameSampling)}
    with pytest.raises(TypeError):
        FrameSampling(check_memory=False)
    seen = []
    monkeypatch.setattr(adapter, "load_clip_folder", lambda *a, **kw: seen.append(kw["check_memory"]))
    for flag in (False, True):
        adapter.load_video_set(VideoDistillConfig(dataset="frames", data_root=str(tmp_path), memory_check=flag))
    assert seen == [False, True]
    # the fingerprint's settings part, as json.dumps(..., sort_keys=True) hashes it: the fields without check_memory (and
    # without walk 54A's resize and sample_fps at their defaults: FrameSampling.settings)
    assert json.dumps(FrameSampling().settings(), sort_keys=True) == ('{"frame_gap": 4, "frame_size": 112, "num_frames": 16, '
                                                                    '"offset": "random", "seed": 0, "short": "gap"}')
    monkeypatch.setattr(clip_cache, "_clip_stamp", lambda path: "1|2|3|4")  # no file: a key that does not depend on stat
    monkeypatch.setattr(clip_cache, "CACHE_VERSION", 6)  # the version these keys were computed with (7 since converted_rgb)
    items = [datasets.Item(Path("/data/a/clip0"), "a", "train"), datasets.Item(Path("/data/b/clip0"), "b", "test")]
    keys = [clip_cache._fingerprint(items, FrameSampling(**kw), "frames", [], ["a", "b"]) for kw in ({}, {"seed": 1, "frame_size": 8})]
    assert keys == KEYS_BEFORE_40B  # computed the same way with check_memory a field (keys of existing caches still hit)


def test_a_clip_listed_under_two_classes_names_both(tmp_path):
    root = _frames_tree(tmp_path / "r", {"a": 2, "b": 2}, frames=4)
    (root / "two.csv").write_text("path,label,split\na/clip0,a,train\na/clip1,a,test\nb/clip0,b,train\nb/clip1,b,test\n"
                                  "a/clip0,b,train\n")
    with pytest.raises(DataError, match=r"names .*a/clip0 more than once \(train as class 'a' and train as class 'b'\)"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), split_file=str(root / "two.csv"), use_cache=False)


def test_frames_of_different_sizes_in_one_clip_are_counted_when_resized(tmp_path):
    from PIL import Image

    root = _frames_tree(tmp_path / "r", {"a": 2, "b": 2}, frames=4)
    Image.new("RGB", (24, 9)).save(root / "a" / "clip0" / "frame_01.png")
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, test_fraction=0.5)
    assert [(Path(p).name, why) for p, why in vs.report.mixed_sizes] == [("clip0", "frames of 16x16, 24x9 resized to 8x8")]
    with pytest.raises(DataError, match="different sizes"):  # the native size still refuses them
        load_clip_folder(root, kind="frames", sampling=_sampling(frame_size=None), use_cache=False, test_fraction=0.5)


# ------------------------------------------------------------------ fix40B: structured notes, RGB conversions, linked clip folders
def test_mixed_frame_sizes_come_back_as_a_note_not_inside_the_kind(tmp_path):
    """The sizes of a clip's mixed frames travelled as a "|mixed:" suffix of the kind string that the caller split off;
    they now come back in the ``notes`` the caller passes (report kind -> why), the kind is the sampling's alone."""
    from PIL import Image

    from mmdistill.modalities.video import datasets
    from mmdistill.modalities.video.datasets import _decode_frame_dir

    assert not hasattr(datasets, "MIXED_MARK")
    root = _frames_tree(tmp_path / "r", {"a": 1}, frames=4)
    Image.new("RGB", (24, 9)).save(root / "a" / "clip0" / "frame_01.png")
    notes: dict[str, str] = {}
    frames, length, kind = _decode_frame_dir(root / "a" / "clip0", _sampling(), "a/clip0", notes)
    assert (frames.shape, length, kind) == ((4, 8, 8, 3), 4, "ok")
    assert notes == {"mixed_sizes": "frames of 16x16, 24x9 resized to 8x8"}
    assert _decode_frame_dir(root / "a" / "clip0", _sampling(), "a/clip0")[2] == "ok"  # no notes asked for: same clip, same kind
    same: dict[str, str] = {}
    _decode_frame_dir(tmp_path / "r" / "a" / "clip0", _sampling(frame_size=16), "a/clip0", same)
    assert same == {"mixed_sizes": "frames of 16x16, 24x9 resized to 16x16"}


def _recolour(folder: Path, mode: str) -> None:
    """Every frame of ``folder`` saved again in Pillow ``mode`` (L, LA, P, RGBA, I;16)."""
    from PIL import Image

    for f in sorted(folder.iterdir()):
        with Image.open(f) as im:
            rgb = im.convert("RGB")
        if mode == "I;16":
            Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 257).save(f)
        else:
            (rgb.quantize(16) if mode == "P" else rgb.convert(mode)).save(f)


def test_frames_not_stored_as_rgb_are_counted_and_logged_once(tmp_path, caplog):
    """Greyscale, palette or alpha frame images of a frame folder were made RGB without a count; each such clip is now
    named in the load report (``converted_rgb``: the modes and how many of its sampled frames) and logged once with the
    count, a cache hit too. Their pixels are what Pillow's RGB conversion gives, as before."""
    root = _frames_tree(tmp_path / "r", {"a": 3, "b": 3}, frames=4)
    for clip, mode in (("a/clip0", "L"), ("a/clip1", "RGBA"), ("b/clip0", "P"), ("b/clip1", "I;16")):
        _recolour(root / clip, mode)
    with caplog.at_level("WARNING", logger="mmdistill.modalities.video.datasets"):
        vs = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c", test_fraction=0.5)
    assert sorted((vs.report.relative(p), why) for p, why in vs.report.converted_rgb) == [
        ("a/clip0", "4 of 4 sampled frame(s) of mode L read as RGB"), ("a/clip1", "4 of 4 sampled frame(s) of mode RGBA read as RGB"),
        ("b/clip0", "4 of 4 sampled frame(s) of mode P read as RGB"), ("b/clip1", "4 of 4 sampled frame(s) of mode I;16 read as RGB")]
    said = [r.getMessage() for r in caplog.records if "not stored as RGB" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("4 clip(s) whose frame images are not stored as RGB")
    assert vs.report.counts()["converted_rgb"] == 4 and vs.report.as_dict()["counts"]["converted_rgb"] == 4
    hit = load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=tmp_path / "c", test_fraction=0.5)
    assert hit.report.cache.startswith("hit") and hit.report.counts()["converted_rgb"] == 4
    x = torch.cat([vs.x_train, vs.x_test])
    grey = x[[i for i, c in enumerate(torch.cat([vs.y_train, vs.y_test]).tolist()) if c == 0]]
    assert bool((grey[:, 0] == grey[:, 1]).any())  # the L clip: R = G = B
    assert load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, test_fraction=0.5,
                            strict=True).report.counts()["converted_rgb"] == 4  # named, not a strict error
    plain = load_clip_folder(_frames_tree(tmp_path / "rgb", {"a": 2, "b": 2}, frames=4), kind="frames", sampling=_sampling(),
                             use_cache=False, strict=True, test_fraction=0.5)  # none counted for RGB frames
    assert plain.report.counts()["converted_rgb"] == 0


def test_a_mixed_clip_folder_counts_only_its_converted_frames(tmp_path):
    from PIL import Image

    from mmdistill.modalities.video.datasets import _decode_frame_dir

    root = _frames_tree(tmp_path / "r", {"a": 1}, frames=4)
    Image.new("L", (16, 16), 7).save(root / "a" / "clip0" / "frame_02.png")
    notes: dict[str, str] = {}
    frames, _, _ = _decode_frame_dir(root / "a" / "clip0", _sampling(frame_size=None), "a/clip0", notes)
    assert notes == {"converted_rgb": "1 of 4 sampled frame(s) of mode L read as RGB"}
    assert (frames[2] == 7).all()


def test_a_class_folder_linked_to_another_is_refused_in_the_frames_layout(tmp_path):
    """The frames layout listed class folders without the linked-class-folder check the video-file layout (and the
    image and audio class folders) go through: c -> b read b's clips again as class 'c'."""
    root = _frames_tree(tmp_path / "r", {"a": 2, "b": 2}, frames=4)
    (root / "c").symlink_to(root / "b")
    with pytest.raises(DataError, match=r"class folder 'c' of .*r is a link to the same folder as class folder 'b' \(c -> "
                                        r".*r/b\): its files would be read as both classes"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)
    tv = tmp_path / "tv"
    _frames_tree(tv / "train", {"a": 2, "b": 2}, frames=4)
    _frames_tree(tv / "test", {"a": 1}, frames=4)
    (tv / "test" / "b").symlink_to(tv / "test" / "a")
    with pytest.raises(DataError, match=r"class folder 'b' of .*tv/test is a link to the same folder as class folder 'a'"):
        load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False)


def test_a_clip_folder_linked_into_two_classes_is_refused_naming_both(tmp_path):
    root = _frames_tree(tmp_path / "r", {"a": 2, "b": 2}, frames=4)
    (root / "b" / "clipX").symlink_to(root / "a" / "clip0")
    with pytest.raises(DataError, match=r"clip folders .*r/a/clip0 \(class 'a'\) and .*r/b/clipX \(class 'b'\) are one folder, "
                                        r".*r/a/clip0, through a link: its frames would be read as both classes"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False)
    tv = tmp_path / "tv"  # across the splits of train/ and test/: the shared-file check names both
    _frames_tree(tv / "train", {"a": 2, "b": 2}, frames=4)
    _frames_tree(tv / "test", {"a": 1, "b": 1}, frames=4)
    (tv / "test" / "b" / "clipX").symlink_to(tv / "train" / "a" / "clip1")
    with pytest.raises(DataError, match=r"1 test clip\(s\) are training clips too .* e\.g\. .*tv/test/b/clipX is "
                                        r".*tv/train/a/clip1: a test score would count training samples"):
        load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False)


def test_a_test_clip_folder_that_is_a_training_one_through_a_link_is_refused(tmp_path):
    """A link in test/ to a training clip folder (or a test class folder linked to a training one) would score the
    model on a clip it trained on: refused naming both paths (artifacts.refuse_shared_files, as for video files)."""
    tv = tmp_path / "tv"
    _frames_tree(tv / "train", {"a": 2, "b": 2}, frames=4)
    _frames_tree(tv / "test", {"a": 1, "b": 1}, frames=4)
    (tv / "test" / "a" / "clipL").symlink_to(tv / "train" / "a" / "clip0")
    with pytest.raises(DataError, match=r"1 test clip\(s\) are training clips too .*tv/test/a/clipL is .*tv/train/a/clip0"):
        load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False)
    shutil.rmtree(tv / "test" / "b")
    (tv / "test" / "b").symlink_to(tv / "train" / "b")
    (tv / "test" / "a" / "clipL").unlink()
    with pytest.raises(DataError, match=r"2 test clip\(s\) are training clips too .*tv/test/b/clip0 is .*tv/train/b/clip0"):
        load_clip_folder(tv, kind="frames", sampling=_sampling(), use_cache=False)


def test_a_clip_folder_linked_twice_into_one_class_is_read_once(tmp_path):
    """A second name of one clip folder in its class (a link beside it) was a second clip, which a drawn split could put
    in test while its target trains; it is now read once and the link named (``ignored``, as the video-file walk names a
    second name of one file), which strict makes an error."""
    root = _frames_tree(tmp_path / "r", {"a": 2, "b": 2}, frames=4)
    (root / "a" / "clipL").symlink_to(root / "a" / "clip0")
    vs = load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, test_fraction=0.5)
    assert len(vs.x_train) + len(vs.x_test) == 4
    assert [(vs.report.relative(p), why) for p, why in vs.report.ignored] == [("a/clipL", "the same folder as clip0 (a link to it, or its target)")]
    with pytest.raises(DataError, match=r"a/clipL \(ignored: the same folder as clip0"):
        load_clip_folder(root, kind="frames", sampling=_sampling(), use_cache=False, test_fraction=0.5, strict=True)


def test_channel_std_uses_the_shared_constant_channel_helper(caplog):
    """Video's channel_std and the audio-visual split scaling share artifacts.constant_channels: std with the channels
    below 1e-6 set to 1, and their ids; each adapter words its own warning (pinned here and in test_audio_visual)."""
    from mmdistill.modalities.artifacts import CONSTANT_STD, constant_channels
    from mmdistill.modalities.video.adapter import channel_std

    std, ids = constant_channels(torch.tensor([0.3, 0.0, 9e-7, 1e-6, 2.0]))
    assert std.tolist() == pytest.approx([0.3, 1.0, 1.0, 1e-6, 2.0]) and ids == [1, 2] and CONSTANT_STD == 1e-6
    assert constant_channels(torch.tensor([0.5, 0.25]))[1] == []
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 4, 3, 6, 6, generator=g)
    x[:, 1], x[:, 3] = 0.5, 0.0
    x[:, 2] = 0.25 + torch.arange(5.0)[:, None, None, None] * 1e-8
    with caplog.at_level("WARNING"):
        out = channel_std(x, "clips")
    assert out.tolist() == [0.2959701120853424, 1.0, 1.0, 1.0]  # the values before the helper (fix40B identity run)
    assert caplog.messages == ["clips: 3 of 4 channel(s) of the training clips are constant (std < 1e-6): channel(s) 1, 2, 3; "
                               "kept and normalised with std 1 (mean subtracted only)"]


def test_a_changed_folder_replaces_its_cache_entry_instead_of_adding_one(tmp_path, caplog):
    """Walk 40A: the cache key holds each clip's inode and change time, so a chmod or a re-copy of the same folder
    wrote a new full entry every time and the superseded one stayed (6 entries for one dataset). An entry now records
    its slot (root, layout, settings); writing one removes the other entries of that slot, never another folder's."""
    import os

    root = _frames_tree(tmp_path / "r", {"a": 3, "b": 3}, frames=4)
    other = _frames_tree(tmp_path / "other", {"a": 3, "b": 3}, frames=4)
    cache = tmp_path / "cache"

    def load(folder):
        return load_clip_folder(folder, kind="frames", sampling=_sampling(), cache_dir=cache)

    first = load(root)
    load(other)
    assert len(list(cache.glob("*.safetensors"))) == 2
    os.utime(root / "a" / "clip0" / sorted(os.listdir(root / "a" / "clip0"))[0])  # its stamp changes, the data does not
    with caplog.at_level("INFO"):
        again = load(root)
    names = sorted(p.name for p in cache.glob("*.safetensors"))
    assert len(names) == 2 and any(n.startswith("other-") for n in names) and "superseded" in caplog.text
    assert torch.equal(first.x_train, again.x_train)
    assert again.report.facts["cache"].startswith("wrote") and load(root).report.facts["cache"].startswith("hit")


def test_loads_of_one_folder_with_other_splits_keep_their_own_cache_entries(tmp_path):
    """Review 40b: the slot left the split out, so two split seeds of one folder removed each other's entry and never hit."""
    root = _frames_tree(tmp_path / "r", {"a": 4, "b": 4}, frames=4)
    cache = tmp_path / "cache"

    def load(**kw):
        return load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=cache, **kw).report.facts["cache"]

    assert [load(split_seed=s)[:5] for s in (0, 1, 0, 1)] == ["wrote", "wrote", "hit r", "hit r"]
    assert len(list(cache.glob("*.safetensors"))) == 2


def test_a_clip_folder_that_grows_keeps_one_cache_entry(tmp_path, caplog):
    """Review 56 R1.1: the decoded-clip cache's slot hashed every clip's path, so each clip added to a folder (a set that
    grows) left the older full entry beside the new one; the image cache's slot was widened to the folder and its
    settings (mend 56D) and the clip cache's was not. Both now take cache_slots.folder_slot: one entry per folder,
    settings and split, its newest; another split seed keeps its own."""
    root = _frames_tree(tmp_path / "r", {"a": 3, "b": 3}, frames=4)
    cache = tmp_path / "cache"

    def load(seed: int = 0) -> str:
        return load_clip_folder(root, kind="frames", sampling=_sampling(), cache_dir=cache, split_seed=seed).report.facts["cache"]

    other_split = load(seed=1)
    caplog.set_level(logging.INFO)
    load()
    for i in range(2):  # a clip added: another key, the same slot
        _frames_tree(tmp_path / f"new{i}", {"a": 1}, frames=4)
        (tmp_path / f"new{i}" / "a" / "clip0").rename(root / "a" / f"added{i}")
        newest = load()
        assert newest.startswith("wrote ")
    assert "superseded" in caplog.text
    assert sorted(p.name for p in cache.iterdir()) == sorted(n.split(" ", 1)[1] for n in (other_split, newest))
    assert load() == "hit " + newest.split(" ", 1)[1]


def test_clips_that_look_transposed_are_loaded_as_given_with_a_warning(caplog):
    """(N, T, C, H, W) clips (16 RGB frames) were read as 16 channels of 3 frames without a word: every channel count is
    kept (by design), but a C of 16 beside a T of 3 is named with the transpose that fixes it."""
    from mmdistill.modalities.video import register_tensors

    y = torch.tensor([0, 0, 1, 1])
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.video"):
        register_tensors("ntchw", torch.rand(4, 16, 3, 8, 8), y, torch.rand(2, 16, 3, 8, 8), y[1:3])
    assert "read as (N, C, T, H, W) with C = 16 channels and T = 3 frames" in caplog.text and ".transpose(1, 2)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mmdistill.modalities.video"):
        register_tensors("ncthw", torch.rand(4, 3, 16, 8, 8), y, torch.rand(2, 3, 16, 8, 8), y[1:3])
        register_tensors("grey", torch.rand(4, 1, 3, 8, 8), y, torch.rand(2, 1, 3, 8, 8), y[1:3])
    assert "transpose" not in caplog.text


def test_the_export_works_out_the_gif_speed_once_and_the_note_says_a_timed_sets(tmp_path, monkeypatch):
    """(Mend 54M, review R2 finding 7.) The export asked ``gif_frame_ms`` again for every clip it wrote (one value for the
    whole set), and the export note tested "picked by time?" with its own copy of gif_frame_ms's rule; now once per
    export, and the note reads :func:`timed_frame_ms` (None for a set picked by frame index)."""
    from PIL import Image

    import mmdistill.modalities.video.export as export
    from mmdistill.modalities.video import MODALITY
    from mmdistill.synthetic import SyntheticSet

    meta = {"mean": [0.5], "std": [0.25], "classes": ["a", "b"], "decoding": {"sample_fps": 4.0, "frame_gap": 1}}
    syn = SyntheticSet({"x": torch.rand(3, 1, 3, 8, 8)}, torch.tensor([0, 1, 1]), 2, meta=meta)
    asked = []
    real = export.gif_frame_ms
    monkeypatch.setattr(export, "gif_frame_ms", lambda s: asked.append(1) or real(s))
    export.export_video_set(syn, syn.data["x"], tmp_path / "out")
    assert len(asked) == 1 and Image.open(tmp_path / "out" / "b" / "001.gif").info["duration"] == 250
    assert "each frame shown 250 ms: the real clips' speed (sample_fps)" in MODALITY.export_note(syn)
    syn.meta["decoding"] = {"num_frames": 3}
    assert export.timed_frame_ms(syn) is None and real(syn) == export.GIF_FRAME_MS
    assert "each frame shown" not in MODALITY.export_note(syn)


def test_the_set_carries_every_key_of_the_datas_meta_but_the_data_only_ones():
    """Walk 56E: the set's meta was a hand-kept list of the data's keys (mean, std, load_report, decoding, scored_on,
    validation), so a decode key added to the data's meta would have been left out of the set without a word; the set
    now carries every key but :data:`DATA_ONLY_META`, a key added later included."""
    from dataclasses import replace

    from mmdistill.modalities.video import MODALITY
    from mmdistill.modalities.video.adapter import DATA_ONLY_META
    from mmdistill.recipes import get_recipe
    from mmdistill.seeding import generator

    cfg = get_recipe("video-dm").config(**TINY, ipc=1)
    data = MODALITY.load(cfg)
    data = replace(data, meta={**data.meta, "a_decode_key_added_later": {"x": 1}, "native_sizes": [[8, 8]] * 3})
    syn = MODALITY.init_synthetic(data, cfg, generator(0, "init"))
    assert syn.meta["a_decode_key_added_later"] == {"x": 1}
    assert set(data.meta) - set(syn.meta) <= DATA_ONLY_META and "native_sizes" not in syn.meta
    assert syn.meta["dataset"] == data.name and syn.meta["mean"] == data.meta["mean"]
