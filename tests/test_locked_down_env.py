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
