"""Using the library from a Jupyter kernel (walk 49B), simulated in a plain process: the kernel's conditions are
set up by hand (tqdm.auto's widget bar, a stderr that is no terminal, a run stopped by an interrupt)."""

from __future__ import annotations

import io

import pytest
from tqdm.notebook import tqdm as notebook_tqdm
from tqdm.std import tqdm as std_tqdm

from mmdistill import logs


def _recording(base: type) -> type:
    """A bar class of ``base``'s kind that records the keyword arguments it was made with and draws nothing."""

    class Recording(base):  # type: ignore[misc, valid-type]
        made: list[dict] = []

        def __new__(cls, *args, **kwargs):
            return object.__new__(cls)

        def __init__(self, *args, **kwargs) -> None:
            type(self).made.append(kwargs)

        def close(self) -> None:
            pass

        def __del__(self) -> None:
            pass

    return Recording


@pytest.mark.parametrize("base, throttled", [(notebook_tqdm, False), (std_tqdm, True)])
def test_a_notebook_widget_bar_is_not_throttled_like_a_log_file(monkeypatch, base, throttled):
    """In a kernel stderr is no terminal, so every bar was drawn at most every 30 s (NON_TTY_INTERVAL_S, meant for log
    files): tqdm.auto's Jupyter widget, which writes no lines, sat at 0% for the first 30 s of a run and never showed
    the evaluation's progress (found running image-dm from a notebook with nbclient). The widget now updates as on a
    terminal; a plain bar on a stderr that is no terminal (a log file) keeps the interval."""
    bar_cls = _recording(base)
    monkeypatch.setattr(logs, "tqdm", bar_cls)
    monkeypatch.setattr(logs.sys, "stderr", io.StringIO())  # a kernel's stderr: isatty() is False
    logs.progress_bar(total=10, desc="x")
    made = bar_cls.made[-1]
    assert ("mininterval" in made) is throttled
    if throttled:
        assert made["mininterval"] == logs.NON_TTY_INTERVAL_S


def test_a_run_result_and_a_synthetic_set_show_as_one_line_of_shapes(tmp_path):
    """A notebook cell ending in ``result`` (the README's ``image_dm.run(...)``) or ``syn`` (``load_synthetic``)
    showed the dataclasses' default repr: every tensor's values, a screenful of numbers (found in a notebook run of the
    README's Python API). They are one line of shapes now, as ``DistilledSet``'s repr is."""
    import torch

    from mmdistill.run import RunResult
    from mmdistill.synthetic import SyntheticSet

    syn = SyntheticSet({"x": torch.randn(100, 1, 8, 8)}, torch.arange(10).repeat_interleave(10), 10,
                       soft_labels=torch.zeros(100, 10), label_mode="soft")
    assert repr(syn) == ("SyntheticSet(x=(100, 1, 8, 8) float32, labels=(100,), num_classes=10, label_mode='soft', "
                         "soft_labels=(100, 10))")
    result = RunResult(tmp_path / "run", syn, {"recipe": "image-dm", "dataset": "digits", "config": {}})
    text = repr(result)
    assert "\n" not in text and "tensor(" not in text and len(text) < 300
    assert text.startswith(f"RunResult(out_dir={str(tmp_path / 'run')!r}, synthetic=SyntheticSet(x=(100, 1, 8, 8)")
    assert text.endswith("manifest=<recipe 'image-dm', dataset 'digits', 3 keys>)")
    assert "synthetic=None" in repr(RunResult(tmp_path, None, {}))


def test_a_run_interrupted_in_a_notebook_says_how_to_resume_from_python_and_resumes_in_the_same_process(
        tmp_path, monkeypatch, caplog):
    """A kernel interrupt (Jupyter's stop button: KeyboardInterrupt in the cell) stopped ``image_dm.run(...)`` with
    "continue with the same command and --resume", and ``stop_after`` logged "resume with --resume --out ...": advice
    in command-line words only, for a user who typed no command (found interrupting a notebook cell through
    jupyter_client). Both now also say the Python form (resume=True), and that call, made again in the same process
    (the lock released), finishes the run."""
    import logging

    from mmdistill.errors import InterruptedRun
    from mmdistill.matchers import distribution
    from mmdistill.recipes import image_dm

    calls = {"n": 0}
    step = distribution.DistributionMatching.step

    def interrupted_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # what the kernel's interrupt raises in the cell
        return step(self, *args, **kwargs)

    monkeypatch.setattr(distribution.DistributionMatching, "step", interrupted_once)
    keys = dict(dataset="digits", ipc=1, budget="cpu", iterations=4, checkpoint_every=1, evaluate=False, progress=False,
                out=str(tmp_path / "run"))
    with pytest.raises(InterruptedRun, match=r"holds the first 2 iterations: continue with the same command and --resume "
                                             r"\(from Python: the same run\(\.\.\.\) call with resume=True\)"):
        image_dm.run(**keys)
    with caplog.at_level(logging.INFO, logger="mmdistill"):
        stopped = image_dm.run(**keys, resume=True, stop_after=3)
    assert f"resume with --resume --out {tmp_path / 'run'} (from Python: resume=True, out='{tmp_path / 'run'}')" in caplog.text
    assert stopped.manifest["timing"]["iterations"] == 3
    done = image_dm.run(**keys, resume=True)
    assert done.manifest["timing"]["iterations"] == 4 and (tmp_path / "run" / "synthetic.safetensors").is_file()


def test_a_run_interrupted_while_evaluating_says_its_distillation_is_kept(tmp_path, monkeypatch):
    """The stop button pressed while a finished distillation was being evaluated ended the cell with a bare
    KeyboardInterrupt whose traceback ended in threading.py, saying nothing of the checkpoint that holds every
    iteration (found interrupting a notebook cell with eval_threads=2 through jupyter_client). It is an InterruptedRun
    naming that checkpoint and resume=True now, and that call evaluates and writes the set without distilling again."""
    from mmdistill.errors import InterruptedRun
    from mmdistill.modality import get_modality
    from mmdistill.recipes import image_dm

    modality = type(get_modality("image"))
    evaluate = modality.evaluate
    calls = {"n": 0}

    def interrupted_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(modality, "evaluate", interrupted_once)
    keys = dict(dataset="digits", ipc=1, budget="cpu", iterations=3, eval_runs=1, eval_epochs=2, eval_networks="convnet",
                baselines="", progress=False, out=str(tmp_path / "run"))
    with pytest.raises(KeyboardInterrupt) as caught:  # (caught as what the old code raised: a failure, not pytest's stop)
        image_dm.run(**keys)
    assert isinstance(caught.value, InterruptedRun), repr(caught.value)
    assert str(caught.value).startswith(f"interrupted; the distillation had finished: the checkpoint {tmp_path / 'run' / 'checkpoint.safetensors'} "
                                        "holds all 3 iterations: continue with the same command and --resume"), str(caught.value)
    done = image_dm.run(**keys, resume=True)
    assert done.manifest["timing"]["resumed_from"] == 3 and "metrics" in done.manifest
    assert (tmp_path / "run" / "synthetic.safetensors").is_file()


def test_a_run_called_from_python_has_its_signal_handlers_on_their_own_stack_and_gives_faulthandler_back(
        tmp_path, monkeypatch):
    """The command and the recipe scripts enable faulthandler (an alternate signal stack) so that a Ctrl-C landing in
    oneDNN's gemm no longer aborts on a corrupted heap (walk 47B), but a run called from Python did not: a Jupyter kernel
    has faulthandler off (found reading faulthandler.is_enabled() in a kernel), so the stop button ran Python's SIGINT
    handler on the interrupted kernel's stack. A run (seeded_run: distillation and experts) now has it on while it runs
    and gives the caller's setting back after."""
    import faulthandler
    import sys

    from mmdistill.matchers import distribution
    from mmdistill.recipes import image_dm

    seen = []
    step = distribution.DistributionMatching.step

    def watched(self, *args, **kwargs):
        seen.append(faulthandler.is_enabled())
        return step(self, *args, **kwargs)

    monkeypatch.setattr(distribution.DistributionMatching, "step", watched)
    was_on = faulthandler.is_enabled()  # pytest's own faulthandler plugin turns it on
    faulthandler.disable()  # as in a kernel
    try:
        image_dm.run(dataset="digits", ipc=1, budget="cpu", iterations=2, evaluate=False, progress=False,
                     out=str(tmp_path / "run"))
        assert seen == [True, True]
        assert not faulthandler.is_enabled()
    finally:
        if was_on:
            faulthandler.enable(file=sys.__stderr__)


def test_a_recipe_script_run_in_the_kernel_gives_the_logging_back(tmp_path, monkeypatch):
    """``%run recipes/image_dm.py ...`` (and ``Recipe.main``, ``mmdistill.cli.main``) configured the ``mmdistill`` logger
    for a command line (its own stderr handler, no propagation) and left it so: every later API call in the kernel
    logged past the user's own logging (left noted in session 49). The logger is now given back as it was."""
    import logging
    import sys
    from pathlib import Path

    from mmdistill.cli import main as cli_main, script_main

    logger = logging.getLogger("mmdistill")
    mine = logging.NullHandler()
    monkeypatch.setattr(logger, "handlers", [mine])
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "level", logging.WARNING)
    script = Path(__file__).resolve().parents[1] / "recipes" / "image_dm.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--dataset", "digits", "--ipc", "1", "--iterations", "1", "--no-evaluate",
                                      "--no-progress", "--out", str(tmp_path / "run")])
    assert script_main(str(script)) == 0
    assert cli_main(["show", str(tmp_path / "run")]) == 0
    assert cli_main(["show", str(tmp_path / "no-such-run")]) != 0  # a failed command too
    assert logger.handlers == [mine] and logger.propagate and logger.level == logging.WARNING
