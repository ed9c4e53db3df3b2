"""Walk 49C: a locked-down machine — a user id without a name or home, read-only folders, the C locale, no terminal."""

from __future__ import annotations

import getpass
import os
import pwd

import pytest

from mmdistill.cli import main as cli_main
from mmdistill.errors import ConfigError

RUN = ["run", "image-dm", "--dataset", "digits", "--ipc", "1", "iterations=1", "--no-evaluate", "--no-memory-check",
       "--no-progress"]


@pytest.fixture
def unnamed_user(monkeypatch):
    """This process as a container's ``--user 12345``: no HOME, no name in the environment, no password-database entry."""
    for name in ("HOME", "LOGNAME", "USER", "LNAME", "USERNAME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)


def test_a_user_without_a_home_folder_runs_and_its_cache_names_the_variable(unnamed_user, tmp_path, monkeypatch, capsys):
    """``Path.home()`` raised RuntimeError ("Could not determine home directory.") in the run's --out check: a traceback
    before anything ran. The run goes on; the cache, which has no place, is one line naming MMDISTILL_CACHE."""
    from mmdistill.cache_dir import cache_root, home_folder

    assert home_folder() is None
    assert cli_main([*RUN, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "synthetic.safetensors").is_file()
    monkeypatch.delenv("MMDISTILL_CACHE")
    with pytest.raises(ConfigError, match=r"no cache folder: .* user id \d+ has no home folder .* set MMDISTILL_CACHE"):
        cache_root()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mmdistill"


def test_a_user_id_without_a_name_gets_one_for_torchs_compile_cache(unnamed_user):
    """torch < 2.13 names its compile cache by ``getpass.getuser()``, which raises KeyError for a user id without a
    password-database entry, and ``torch._dynamo`` (imported by every optimizer's constructor) asks for it: every run
    in such a container stopped with a traceback (pytorch issue 140765). The entry point names the user ``uid<N>``."""
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    from mmdistill.logs import start_entry_point

    with pytest.raises(KeyError):
        getpass.getuser()
    start_entry_point()
    assert getpass.getuser() == f"uid{os.getuid()}"
    assert default_cache_dir().endswith(f"torchinductor_uid{os.getuid()}")


def test_a_named_user_keeps_its_name(monkeypatch):
    from mmdistill.logs import start_entry_point

    monkeypatch.setenv("USER", "someone")
    start_entry_point()
    assert getpass.getuser() == "someone"


def test_the_c_locale_with_utf8_mode_off_writes_utf8_files_and_never_refuses_a_character(tmp_path):
    """Under ``LC_ALL=C PYTHONUTF8=0 PYTHONIOENCODING=ascii`` (a bare CI image or cron job) the card's ``write_text``
    used the locale's ASCII and a finished run stopped with a UnicodeEncodeError traceback before its manifest was
    written; with that mended, the result line's ``±`` on the ASCII stdout did the same. Files are UTF-8 whatever
    the locale, and stdout writes what it cannot encode as an escape."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONUTF8", "PYTHONIOENCODING"))}
    env.update(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONIOENCODING="ascii")
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "mmdistill", "run", "image-dm", "--dataset", "digits", "--ipc", "1",
                           "iterations=1", "eval_runs=2", "eval_epochs=1", "baselines=random_real", "--no-memory-check",
                           "--no-progress", "--out", str(out)], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")[-2000:]
    assert "Traceback" not in done.stderr.decode("ascii", "replace")
    assert b"\\xb1" in done.stdout and b"wrote " in done.stdout  # the result line (two runs: a spread), its ± escaped
    card = (out / "README.md").read_bytes()
    assert any(b > 127 for b in card) and card.decode("utf-8")  # non-ASCII text, written as UTF-8
    assert (out / "manifest.json").is_file()


def test_lenient_output_escapes_what_a_strict_stream_cannot_encode(monkeypatch):
    import io

    from mmdistill.logs import lenient_output

    raw = io.BytesIO()
    strict = io.TextIOWrapper(raw, encoding="ascii", errors="strict")
    monkeypatch.setattr("sys.stdout", strict)
    monkeypatch.setattr("sys.stderr", None)  # closed (started with 2>&-): left alone
    lenient_output()
    print("95.3 ± 0.5 %", file=strict)
    strict.flush()
    assert raw.getvalue() == b"95.3 \\xb1 0.5 %\n"


def test_every_text_file_the_package_opens_names_its_encoding():
    """Text files are UTF-8 whatever the locale: no ``read_text``/``write_text``/``open``/``fdopen`` in text mode
    without ``encoding=`` in the package, its adapters or its recipes (the locale's is ASCII under ``LC_ALL=C``)."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    found = []
    for path in sorted(p for top in ("mmdistill", "modalities", "recipes") for p in (repo / top).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or any(k.arg == "encoding" for k in node.keywords):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("read_text", "write_text"):
                found.append(f"{path.relative_to(repo)}:{node.lineno}")
            elif (name == "open" and isinstance(node.func, ast.Name)) or (name == "fdopen" and getattr(node.func.value, "id", "") == "os"):
                mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
                if not (isinstance(mode, ast.Constant) and "b" in str(mode.value)):
                    found.append(f"{path.relative_to(repo)}:{node.lineno}")
    assert found == []


def test_a_run_started_with_stderr_closed_is_not_lost(tmp_path):
    """``mmdistill run ... 2>&-`` had ``sys.stderr`` None: the first progress bar raised, and the run ended with exit 1,
    nothing said, nothing written. Closed standard descriptors are /dev/null now; the run is written and its lines
    still reach stdout."""
    import subprocess
    import sys

    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "mmdistill", *RUN[:-1], "--out", str(out)], preexec_fn=lambda: os.close(2),
                          stdout=subprocess.PIPE, timeout=120)
    assert done.returncode == 0 and (out / "synthetic.safetensors").is_file() and (out / "manifest.json").is_file()
    assert f"wrote {out}".encode() in done.stdout


def test_a_read_only_stderr_becomes_dev_null(tmp_path):
    """From a wrapper script started with ``2>&-`` descriptor 2 is the script's own file, open read-only (the shell's):
    ``sys.stderr`` exists and every write fails (EBADF; the run ended with exit 120, nothing written)."""
    import fcntl

    from mmdistill.logs import standard_streams_open

    script = tmp_path / "wrapper.sh"
    script.write_text("#!/bin/sh\n", encoding="utf-8")
    saved = os.dup(2)
    try:
        read_only = os.open(script, os.O_RDONLY)
        os.dup2(read_only, 2)
        os.close(read_only)
        standard_streams_open()
        writable = fcntl.fcntl(2, fcntl.F_GETFL) & os.O_ACCMODE != os.O_RDONLY
        points_at = os.readlink("/proc/self/fd/2") if os.path.exists("/proc/self/fd/2") else os.devnull
        os.write(2, b"dropped\n")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    assert writable and points_at == os.devnull
    assert script.read_text(encoding="utf-8") == "#!/bin/sh\n"


ALLOCATOR = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate "
             "118013952 bytes. Error code 12 (Cannot allocate memory)")


def test_running_out_of_host_memory_is_one_line_naming_the_limit(monkeypatch, capsys):
    """Under ``ulimit -v`` torch's allocator's RuntimeError (video-dm normalising its clips at ``ulimit -v 3800000``) and
    torch's own import (``libtorch_cpu.so: failed to map segment`` at ``ulimit -v 2000000``: even ``mmdistill show``)
    were tracebacks; they are one line naming the limit, exit 2. Any other RuntimeError keeps its traceback."""
    import resource

    from mmdistill.recipe import Recipe

    monkeypatch.setattr(resource, "getrlimit", lambda which: (3_800_000 * 1024, resource.RLIM_INFINITY))
    monkeypatch.setattr(Recipe, "run", lambda self, cfg: (_ for _ in ()).throw(RuntimeError(ALLOCATOR)))
    assert cli_main(RUN + ["--out", "unused"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: out of host memory (DefaultCPUAllocator: can't allocate memory") and "ulimit -v 3800000" in err[-1]
    from mmdistill.exits import describe, exit_code, expected

    torch_load = ImportError("libtorch_cpu.so: failed to map segment from shared object")
    assert expected(torch_load) and exit_code(torch_load) == 2
    assert describe(torch_load).startswith("torch cannot be loaded (libtorch_cpu.so: failed to map segment")
    assert not expected(RuntimeError("shape mismatch")) and not expected(ImportError("cannot import name 'x'"))
    monkeypatch.setattr(Recipe, "run", lambda self, cfg: (_ for _ in ()).throw(RuntimeError("a defect")))
    with pytest.raises(RuntimeError, match="a defect"):
        cli_main(RUN + ["--out", "unused"])


def test_the_memory_check_counts_the_address_space_a_ulimit_leaves(monkeypatch):
    """The iteration's estimate was compared with the host's MemAvailable only, so under ``ulimit -v`` a run passed the
    check and failed in torch's allocator; the address space the limit leaves counts too, and the refusal says so."""
    import resource

    import torch

    from mmdistill.memory import MemoryEstimate, check_fits, host_memory

    with open("/proc/self/status", encoding="ascii") as fh:
        size = next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:"))
    monkeypatch.setattr(resource, "getrlimit", lambda which: (size + 50 * 2**20, resource.RLIM_INFINITY))
    assert host_memory() <= 51 * 2**20
    estimate = MemoryEstimate({"real forward": 200 * 2**20}, ("ipc", "batch_real"))
    with pytest.raises(ConfigError, match=r"which has \d+ MiB left under this process's virtual-memory limit \(ulimit -v\)"):
        check_fits(estimate, torch.device("cpu"))


def test_a_utf8_class_folder_read_in_the_c_locale_is_not_called_latin1(monkeypatch):
    """Under ``LC_ALL=C PYTHONUTF8=0`` Python reads file names as ASCII, so a class folder ``café`` (UTF-8 bytes) reads as
    ``caf\\udcc3\\udca9``; the refusal called it "not UTF-8 text ... convmv -f latin1 -t utf8", which would garble a name
    that is fine. It names the locale and the way out; a Latin-1 name keeps the convmv advice."""
    import sys

    from mmdistill.data import check_class_list
    from mmdistill.errors import DataError

    monkeypatch.setattr(sys, "getfilesystemencoding", lambda: "ascii")
    with pytest.raises(DataError, match=r"class name 'café' is UTF-8, but Python reads file names as ascii .* PYTHONUTF8=1") as said:
        check_class_list("dataset 'imagefolder'", ["caf\udcc3\udca9", "nino"])
    assert "convmv" not in str(said.value)
    with pytest.raises(DataError, match=r"'caf\\udce9' is not UTF-8 text .*convmv -f latin1"):
        check_class_list("dataset 'imagefolder'", ["caf\udce9", "nino"])


def test_a_relative_xdg_cache_home_is_ignored_as_the_xdg_spec_says(tmp_path, monkeypatch):
    """``XDG_CACHE_HOME=cache`` (a typo, a CI template) made mmdistill's cache ``./cache/mmdistill`` of whatever folder a
    command ran in: a new cache in every working folder, beside the user's files. The spec calls a relative path invalid."""
    from pathlib import Path

    from mmdistill.cache_dir import cache_root

    monkeypatch.delenv("MMDISTILL_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", "cache")
    monkeypatch.chdir(tmp_path)
    assert cache_root() == tmp_path / "home" / ".cache" / "mmdistill"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mmdistill"
    assert Path(cache_root()).is_absolute()
