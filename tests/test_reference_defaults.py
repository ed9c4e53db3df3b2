"""The paper-budget defaults of the image, video and audio recipes against their reference code (walk 52H's audit):
each value pinned here was read in the reference script named beside it."""

from __future__ import annotations

from mmdistill.recipes import video_mtt, video_static_dynamic


def test_static_dynamic_mtt_at_5_clips_keeps_the_shared_expert_batch_and_evaluates_at_batch_128():
    """sh/s2d/s2d_MTT_ms_5.sh passes --batch_train 128, which distill_s2d_ms.py hands only to utils.py evaluate_synset
    (the evaluation networks' minibatch); the experts come from sh/baseline/buffer.sh at buffer.py's default 256,
    one buffer for the baseline and both static/dynamic sizes. At 1 clip per class the script's --batch_train 256 is
    the evaluation batch too."""
    five = video_static_dynamic.RECIPE.config(method="mtt", ipc=5)
    one = video_static_dynamic.RECIPE.config(method="mtt", ipc=1)
    baseline = video_mtt.RECIPE.config(ipc=5)
    assert (five.batch_train, five.eval_batch, five.batch_syn, five.syn_steps) == (256, 128, 128, 5)
    assert (one.batch_train, one.eval_batch) == (256, 256)
    assert five.expert_training() == baseline.expert_training()  # the same buffer serves video-mtt and static/dynamic
