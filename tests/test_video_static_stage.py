"""Stage 1 of video-static-dynamic runs in the core's loop with its progress kept on disk: a finished stage 1 is read,
not distilled again (a --resume of stage 2, a second run); a stopped one continues to the images an uninterrupted run
gives; a damaged checkpoint is a warning and a fresh stage 1; static_cache=false keeps nothing."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from mmdistill.data import LabeledTensors
from mmdistill.errors import InterruptedRun

TINY = dict(md_train_per_class=4, md_test_per_class=2, md_frames=4, md_size=16, eval_runs=1, eval_epochs=1, progress=False)


def _config(tmp_path, **kw):
    from mmdistill.recipes import video_static_dynamic

    base = dict(TINY, ipc=1, static_iterations=6, iterations=2, batch_real=2, dynamic_frames=2, dynamic_size=8,
                static_method="dm", cache_dir=str(tmp_path / "cache"), checkpoint_every=100)
    return video_static_dynamic.RECIPE.config(**{**base, **kw})


def _frames() -> LabeledTensors:
    g = torch.Generator().manual_seed(3)
    return LabeledTensors(torch.randn(12, 1, 8, 8, generator=g), torch.arange(3).repeat_interleave(4), ["a", "b", "c"])


def _stage1(cfg):
    from mmdistill.modalities.video.static_dynamic import distil_static

    return distil_static(_frames(), 2, cfg, torch.Generator().manual_seed(0), None)


def _plain_loop(cfg) -> torch.Tensor:
    """Stage 1 as it ran before the loop kept it: the same initial draw and matcher, iteration ``it`` on
    ``generator(seed, "static", it)``."""
    from mmdistill.matchers.distribution import DistributionMatching
    from mmdistill.matchers.gradient import GradientMatching
    from mmdistill.nets import build_network, reinitialize
    from mmdistill.recipes import TABLES_DIR
    from mmdistill.seeding import generator
    from mmdistill.synthetic import SyntheticSet
    from mmdistill.tables import load_table
    from mmdistill.task import ClassificationTask

    frames = _frames()
    img = SyntheticSet.from_real(frames, 2, torch.Generator().manual_seed(0), init="real")
    img.requires_grad_(True)
    net = build_network("convnet", (1, 8, 8), 3, depth=1)
    if cfg.static_method == "dm":
        matcher = DistributionMatching(net=net, reinit=reinitialize, real=frames, batch_real=cfg.batch_real, augment=None)
        lr = 1.0
    else:
        loops = load_table(TABLES_DIR / "dc.yaml").lookup({"ipc": 2}).values
        matcher = GradientMatching(net=net, reinit=reinitialize, real=frames, task=ClassificationTask(),
                                   outer_loop=int(loops["outer_loop"]), inner_loop=int(loops["inner_loop"]), lr_net=0.01,
                                   batch_real=cfg.batch_real, batch_train=256, augment=None)
        lr = 0.1
    opt = torch.optim.SGD(img.parameters(), lr=lr, momentum=0.5)
    for it in range(cfg.static_iterations):
        matcher.step(img, opt, generator(cfg.seed, "static", it))
    return img.x.detach()


@pytest.mark.parametrize("method", ["dm", "dc"])
def test_stage1_in_the_loop_gives_the_images_the_plain_loop_gave(tmp_path, method):
    cfg = _config(tmp_path, static_method=method, static_iterations=3)
    images, labels, info = _stage1(cfg)
    assert torch.equal(images, _plain_loop(cfg))
    assert labels.tolist() == [0, 0, 1, 1, 2, 2] and info["continued_from"] is None and math.isfinite(info["last_loss"])
    assert info["kept"] and len(list((tmp_path / "cache" / "static").iterdir())) == 1


def _stop_at(monkeypatch, call: int) -> None:
    from mmdistill.matchers.distribution import DistributionMatching

    real_step, calls = DistributionMatching.step, []

    def step(self, *a, **k):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real_step(self, *a, **k)

    monkeypatch.setattr(DistributionMatching, "step", step)


def test_a_stopped_stage1_continues_to_the_uninterrupted_images(tmp_path, monkeypatch):
    whole, _, _ = _stage1(_config(tmp_path / "whole"))
    cfg = _config(tmp_path)
    with monkeypatch.context() as patch:
        _stop_at(patch, 4)
        with pytest.raises(InterruptedRun) as stop:
            _stage1(cfg)
    said = str(stop.value)
    assert said.startswith("interrupted in stage 1 (the static memories); ") and "keeps the first 3 of its 6 iterations" in said
    assert "run the same command again" in said
    images, _, info = _stage1(cfg)
    assert torch.equal(images, whole) and info["continued_from"] == 3


def test_a_finished_stage1_is_read_not_distilled_again(tmp_path, monkeypatch, caplog):
    from mmdistill.matchers.distribution import DistributionMatching

    cfg = _config(tmp_path)
    first, _, info1 = _stage1(cfg)
    monkeypatch.setattr(DistributionMatching, "step", lambda *a, **k: pytest.fail("stage 1 distilled again"))
    with caplog.at_level(logging.INFO, logger="mmdistill"):
        again, _, info2 = _stage1(cfg)
    assert torch.equal(first, again) and info2["continued_from"] == 6 and info2["last_loss"] == info1["last_loss"]
    assert "continuing the static memories kept in" in caplog.text
    monkeypatch.undo()
    other, _, info3 = _stage1(_config(tmp_path, seed=1))  # another key: distilled, never the kept images
    assert info3["continued_from"] is None and not torch.equal(other, first)
    assert len(list((tmp_path / "cache" / "static").iterdir())) == 2  # a folder of its own


def test_a_stage1_kept_with_other_threads_is_named_when_it_is_distilled_again(tmp_path, caplog):
    """Before: a run (a --resume too) with another thread count than the one that kept stage 1 distilled it again
    without a word (its key holds torch's threads: the sums round otherwise), hours on a real set. Now a warning names
    the kept folder, what differs and how to continue it; a stage 1 of other settings is not named."""
    first, _, _ = _stage1(_config(tmp_path))
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        with caplog.at_level(logging.WARNING):
            again, _, info = _stage1(_config(tmp_path))
    finally:
        torch.set_num_threads(threads)
    assert info["continued_from"] is None and len(list((tmp_path / "cache" / "static").iterdir())) == 2
    (note,) = [r.getMessage() for r in caplog.records if "stage 1 is distilled again" in r.getMessage()]
    assert f"threads {threads} (this run: {threads + 1})" in note and "6 of its iterations" in note
    assert f"OMP_NUM_THREADS={threads}" in note
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _stage1(_config(tmp_path, seed=1))  # other settings: nothing of theirs is kept, nothing named
    assert "stage 1 is distilled again" not in caplog.text


def test_a_damaged_stage1_checkpoint_is_a_warning_and_a_fresh_stage1(tmp_path, caplog):
    from mmdistill.loop import CHECKPOINT_FILE

    cfg = _config(tmp_path)
    first, _, info = _stage1(cfg)
    (folder,) = (tmp_path / "cache" / "static").iterdir()
    ckpt = folder / CHECKPOINT_FILE
    ckpt.write_bytes(b"not a checkpoint")
    with caplog.at_level(logging.WARNING):
        again, _, info2 = _stage1(cfg)
    assert torch.equal(first, again) and info2["continued_from"] is None
    assert f"stage-1 checkpoint {ckpt} cannot be used" in caplog.text and "distilled again" in caplog.text


def test_without_static_cache_nothing_is_kept_and_a_stop_says_so(tmp_path, monkeypatch):
    cfg = _config(tmp_path, static_cache=False)
    images, _, info = _stage1(cfg)
    assert not info["kept"] and not (tmp_path / "cache").exists()
    assert torch.equal(images, _stage1(_config(tmp_path / "kept"))[0])  # the same images either way
    _stop_at(monkeypatch, 2)
    with pytest.raises(InterruptedRun, match=r"in stage 1 \(the static memories\); nothing of it is kept \(static_cache=false"):
        _stage1(cfg)


def test_a_resumed_run_reads_stage1_and_ends_in_the_uninterrupted_set(tmp_path, monkeypatch):
    from mmdistill.matchers.distribution import DistributionMatching
    from mmdistill.recipes import video_static_dynamic

    kw = dict(TINY, ipc=1, static_iterations=3, iterations=4, batch_real=2, dynamic_frames=2, dynamic_size=8, baselines=[],
              static_method="dm", cache_dir=str(tmp_path / "cache"), evaluate=False)
    whole = video_static_dynamic.run(out=tmp_path / "whole", **{**kw, "cache_dir": str(tmp_path / "other")})
    video_static_dynamic.run(out=tmp_path / "run", stop_after=2, **kw)
    real_step = DistributionMatching.step
    calls = []

    def step(self, syn, *a, **k):
        calls.append(set(syn.data))  # stage 1 steps a set of images (x), stage 2 the static/dynamic set
        return real_step(self, syn, *a, **k)

    monkeypatch.setattr(DistributionMatching, "step", step)
    resumed = video_static_dynamic.run(out=tmp_path / "run", resume=True, **kw)
    assert all("static" in keys for keys in calls) and len(calls) == 2  # stage 2's last 2 iterations, no stage-1 step
    for k, v in whole.synthetic.tensors().items():
        assert torch.equal(v, resumed.synthetic.tensors()[k]), k
    assert resumed.synthetic.meta["static_dynamic"]["stage1"]["continued_from"] == 3


def test_a_second_stage1_of_the_same_key_runs_in_memory_with_a_plain_note(tmp_path, caplog):
    """walk 43A: the note said "wait for it to finish (or stop it), or choose another folder", though a second stage 1
    does neither: it runs in memory."""
    from mmdistill.run_lock import RunFolderLock

    cfg = _config(tmp_path)
    alone = _stage1(cfg)
    (folder,) = (tmp_path / "cache" / "static").iterdir()
    lock = RunFolderLock(folder, "stage 1 of mmdistill video-static-dynamic")  # another run's stage 1 holds it
    lock.acquire()
    try:
        with caplog.at_level(logging.INFO, logger="mmdistill.modalities.video.static_stage"):
            again = _stage1(cfg)
    finally:
        lock.release()
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "it runs in memory" in said and "choose another folder" not in said, said
    assert again[2]["kept"] is False and torch.equal(again[0], alone[0])


def test_a_killed_stage1_checkpoint_write_leaves_nothing_after_the_next_run(tmp_path):
    """Walk 45B: a kill between the temporary's write and its rename left ``.checkpoint.safetensors.XXXXXXXX.tmp/``
    in the stage-1 folder; the next stage 1 of that key (a --resume, the same command again) removes it."""
    from mmdistill.loop import CHECKPOINT_FILE

    cfg = _config(tmp_path, checkpoint_every=2)
    first, _, _ = _stage1(cfg)
    (folder,) = (tmp_path / "cache" / "static").iterdir()
    stale = folder / f".{CHECKPOINT_FILE}.k3j_x9a2.tmp"
    stale.mkdir()
    (stale / CHECKPOINT_FILE).write_bytes(b"half of a checkpoint")
    (folder / ".tmpAb12Cd").write_bytes(b"safetensors' own temporary")
    again, _, _ = _stage1(cfg)
    assert torch.equal(first, again)
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and p.name != ".mmdistill.lock") == []
