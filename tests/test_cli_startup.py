"""The ``mmdistill`` command stopped while it starts (Ctrl-C during the 2-3 s in which numpy, torch and the recipes
are imported): one line and exit 130, not a Python traceback, and not a half-imported library used afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

# A stand-in for Ctrl-C pressed while MODULE is imported: the first import of it raises KeyboardInterrupt, as
# Python's SIGINT handler does wherever the interpreter happens to be.
_STOP_WHILE_IMPORTING = """
import sys

class StopOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, StopOnImport())
{start}
"""
_COMMAND = """from mmdistill.cli import main
sys.argv = ["mmdistill", *{argv!r}]
sys.exit(main())"""
_SCRIPT = """import runpy
sys.argv = [{script!r}, *{argv!r}]
runpy.run_path({script!r}, run_name="__main__")"""


def _start_and_stop_while_importing(module: str, argv: list[str], cwd, script: Path | None = None
                                    ) -> subprocess.CompletedProcess[str]:
    start = _COMMAND.format(argv=argv) if script is None else _SCRIPT.format(script=str(script), argv=argv)
    code = _STOP_WHILE_IMPORTING.format(module=module, start=start)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_the_command_module_imports_neither_torch_nor_numpy_nor_tqdm():
    """What ``from mmdistill.cli import main`` runs before ``main`` can answer a stop is kept small and torch-free."""
    probe = "import sys, mmdistill.cli; print(sorted(m for m in ('torch', 'numpy', 'tqdm') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("argv", [["recipes"], ["run", "--help"], ["experts", "--help"]])
def test_listing_the_recipes_loads_no_torch(argv):
    """walk 47C: the recipe listing of ``recipes`` and of the parser's help imports no recipe, so no torch (2 s of a
    0.2 s command); a command that will load a set or a recipe still imports it while it starts (the tests below)."""
    probe = ("import contextlib, io, sys\nfrom mmdistill.cli import main\nwith contextlib.redirect_stdout(io.StringIO()) as out:\n"
             f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
             "print('torch' in sys.modules, 'image-mtt' in out.getvalue())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["False", "True"], done.stderr


@pytest.mark.parametrize("module", ["torch", "numpy", "tqdm"])
@pytest.mark.parametrize("argv", [["run", "image-dm", "--dataset", "digits"], ["show", "no-such-run"]])
def test_a_stop_while_the_command_starts_is_one_line_and_130(tmp_path, module, argv):
    done = _start_and_stop_while_importing(module, argv, tmp_path)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted; it was starting"), done.stderr
    assert "run the same command again" in lines[0]
    assert list(tmp_path.iterdir()) == []  # nothing written: no run folder, no cache


def test_the_package_names_import_on_first_use():
    """``mmdistill.LabeledTensors`` / ``SyntheticSet`` are the classes of their modules, imported when first asked for
    (``import mmdistill`` alone leaves torch unimported); an unknown name is an AttributeError."""
    probe = ("import sys, mmdistill; before = 'torch' in sys.modules; from mmdistill import LabeledTensors, SyntheticSet; "
             "import mmdistill.data, mmdistill.synthetic; "
             "print(before, LabeledTensors is mmdistill.data.LabeledTensors, SyntheticSet is mmdistill.synthetic.SyntheticSet, "
             "set(mmdistill.__all__) <= set(dir(mmdistill)), hasattr(mmdistill, 'no_such_name'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.split() == ["False", "True", "True", "True", "False"]


@pytest.mark.parametrize("module", ["torch", "numpy"])
def test_a_recipe_script_stopped_while_it_starts_is_one_line_and_130(tmp_path, module):
    """``python recipes/image_dm.py ...`` starts as ``mmdistill run image-dm ...`` does: its imports of torch and the
    recipe come after the command's guard."""
    done = _start_and_stop_while_importing(module, ["--dataset", "digits"], tmp_path, script=RECIPES / "image_dm.py")
    assert done.returncode == 130, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: interrupted; it was starting"), done.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_users_copy_of_a_recipe_file_runs_its_own_recipe(tmp_path):
    """A copy of a recipe file, edited and run from elsewhere, runs the copy's RECIPE (not mmdistill's of that name);
    a file without one is named in one line."""
    copy = tmp_path / "my_dm.py"
    copy.write_text((RECIPES / "image_dm.py").read_text().replace('name="image-dm"', 'name="my-dm"'))
    done = subprocess.run([sys.executable, str(copy), "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and "usage: mmdistill run my-dm" in done.stdout, done.stderr
    other = tmp_path / "not_a_recipe.py"
    other.write_text("import sys\n\nif __name__ == '__main__':\n    from mmdistill.cli import script_main\n\n"
                     "    sys.exit(script_main(__file__))\n\nRECIPE = 'image-dm'\n")
    done = subprocess.run([sys.executable, str(other)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.strip() == (f"error: {other}: RECIPE must be a mmdistill.recipe.Recipe (as in "
                                                           "mmdistill's recipes/*.py), got str"), done.stderr


# whether the main thread has an alternate signal stack (sigaltstack: ss_flags without SS_DISABLE), before and after CALL
_ALT_STACK = """
import ctypes

class Stack(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]

def alt_stack():
    st = Stack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(st)) == 0
    return not st.ss_flags & 2

before = alt_stack()
try:
    {call}
except SystemExit:
    pass
print(before, alt_stack())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack read through ctypes (Linux)")
@pytest.mark.parametrize("call", ['from mmdistill.cli import main; main(["recipes"])',
                                  'from mmdistill.recipes import get_recipe; get_recipe("image-dm").main(["--help"])',
                                  f'import runpy, sys; sys.argv = ["image_dm.py", "--help"]; '
                                  f'runpy.run_path({str(RECIPES / "image_dm.py")!r}, run_name="__main__")'])
def test_entry_points_run_signal_handlers_on_an_alternate_stack(call):
    """A Ctrl-C that landed in oneDNN's JIT gemm (a video run's CPU convolution) ran Python's handler on the gemm's own
    stack and glibc aborted on a corrupted heap in about 1 of 5 interrupted runs, before any stop checkpoint (walk 47B);
    the command and the recipe scripts give the main thread an alternate signal stack (faulthandler's) first."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    out = subprocess.run([sys.executable, "-c", _ALT_STACK.format(call=call)], capture_output=True, text=True, timeout=120,
                         env=env, check=True).stdout.strip().splitlines()[-1]
    assert out == "False True"
