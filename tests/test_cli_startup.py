"""The ``mmdistill`` command stopped while it starts (Ctrl-C during the 2-3 s in which numpy, torch and the recipes
are imported): one line and exit 130, not a Python traceback, and not a half-imported library used afterwards."""

from __future__ import annotations

import subprocess
import sys

import pytest

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
from mmdistill.cli import main
sys.argv = ["mmdistill", *{argv!r}]
sys.exit(main())
"""


def _start_and_stop_while_importing(module: str, argv: list[str], cwd) -> subprocess.CompletedProcess[str]:
    code = _STOP_WHILE_IMPORTING.format(module=module, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_the_command_module_imports_neither_torch_nor_numpy_nor_tqdm():
    """What ``from mmdistill.cli import main`` runs before ``main`` can answer a stop is kept small and torch-free."""
    probe = "import sys, mmdistill.cli; print(sorted(m for m in ('torch', 'numpy', 'tqdm') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"


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
