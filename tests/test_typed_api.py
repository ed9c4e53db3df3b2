"""The package is typed for its users (py.typed): a user's ``mypy --strict`` over the README's and the docs' examples
(tests/typed_user_code.py) passes against mmdistill as pip installs it.

Walk 51B, a user whose own project is type-checked: each block of that file is a docs example and says what a type
checker got wrong there before (a recipe's config typed as DistillConfig, a protocol asking for more than the docs).
mypy is in the dev extra (CI runs this); skipped in an install without it. Third-party libraries are skipped (``follow_imports = skip``: torch is Any),
so this checks mmdistill's own annotations in a few seconds, not torch's.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

HERE = Path(__file__).resolve().parent
SKIPPED = ("torch", "numpy", "matplotlib", "sklearn", "scipy", "safetensors", "yaml", "tqdm", "PIL", "torchvision",
           "torchaudio", "torch_geometric", "librosa", "soundfile", "audioread", "open_clip", "transformers", "datasets",
           "pandas", "pyarrow", "networkx", "decord", "timm", "IPython", "ipywidgets")


def installed_layout(root: Path) -> Path:
    """``root/mmdistill`` as a wheel installs it (``modalities/`` and ``recipes/`` inside it), copied from wherever this
    process imports the three packages: an editable install maps them with an import hook that type checkers do not
    run (README, *Type checking your code*)."""
    target = root / "mmdistill"
    for name in ("mmdistill", "mmdistill.modalities", "mmdistill.recipes"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations, name
        dest = target.joinpath(*name.split(".")[1:])
        shutil.copytree(spec.submodule_search_locations[0], dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert (target / "py.typed").is_file()
    return root


def test_a_strictly_typed_users_code_type_checks_against_the_installed_package(tmp_path):
    site = installed_layout(tmp_path / "site")
    project = tmp_path / "project"  # the user's folder: no mmdistill/ beside the code (mypy searches the current folder first)
    project.mkdir()
    shutil.copy(HERE / "typed_user_code.py", project / "typed_user_code.py")
    (project / "mypy.ini").write_text("[mypy]\nstrict = True\n\n[mypy-" + ",".join(f"{m}.*" for m in SKIPPED)
                                      + "]\nfollow_imports = skip\nignore_missing_imports = True\n")
    env = {**os.environ, "PYTHONPATH": str(site)}  # the package path mypy reads from the interpreter's sys.path
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(tmp_path / "cache"),
                           "--python-executable", sys.executable, "typed_user_code.py"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Success" in out, out
