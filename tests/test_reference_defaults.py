"""The paper-budget defaults of the image, video and audio recipes against their reference code (walk 52H's audit):
each value pinned here was read in the reference script named beside it."""

from __future__ import annotations

from types import SimpleNamespace

from mmdistill.modality import AdapterDefaults
from mmdistill.recipes import image_mtt, image_tesla, video_mtt, video_static_dynamic


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


def test_mtt_cifar10_at_50_images_starts_the_step_size_at_0_001_with_experts_at_0_01():
    """DC-BENCH's author-provided MTT commands (justincui03/dc_benchmark methods/tm/readme.md:56): CIFAR-10 IPC 50 without
    ZCA passes distill.py --lr_teacher=0.001, which is only the learnable step size's start (distill.py:118, :435); the
    experts come from buffer.py at its own --lr_teacher 0.01 (buffer.py:117), the buffer of every IPC."""
    layout = SimpleNamespace(num_params=7)
    for recipe in (image_mtt, image_tesla):
        fifty = recipe.RECIPE.config(dataset="cifar10", ipc=50)
        ten = recipe.RECIPE.config(dataset="cifar10", ipc=10)
        assert (fifty.syn_steps, fifty.expert_epochs, fifty.max_start_epoch, fifty.lr_data, fifty.lr_lr) == (30, 2, 40, 1000.0, 1e-5)
        assert (fifty.lr_student, fifty.lr_teacher) == (0.001, 0.01)
        assert fifty.expert_training() == ten.expert_training()  # one buffer: the experts at 0.01
        assert [p.initial_step for p in AdapterDefaults().trajectory_parts(fifty, layout)] == [0.001]
        assert [p.initial_step for p in AdapterDefaults().trajectory_parts(ten, layout)] == [0.001]  # readme.md:52 (ZCA)
        one = recipe.RECIPE.config(dataset="cifar10", ipc=1)
        assert [p.initial_step for p in AdapterDefaults().trajectory_parts(one, layout)] == [0.01]  # none: lr_teacher
        assert recipe.RECIPE.config(dataset="cifar10", ipc=50, lr_student=0.005).lr_student == 0.005
    assert image_mtt.RECIPE.config(dataset="cifar100", ipc=10).lr_student is None  # DC-BENCH readme.md:65: 0.01
