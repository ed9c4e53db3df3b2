"""Where mmdistill keeps what it can compute again: decoded video clips, caption embeddings, PyG's processed files.

One rule for every cache: ``$MMDISTILL_CACHE`` (``~`` expanded), else ``$XDG_CACHE_HOME/mmdistill`` (an absolute
path), else ``~/.cache/mmdistill``; an empty variable counts as unset. Each adapter keeps its files in a sub-folder
(``video``, ``text``, ``graph``).
"""

from __future__ import annotations

import getpass
import logging
import os
from pathlib import Path

from mmdistill.errors import ConfigError

log = logging.getLogger(__name__)


def home_folder() -> Path | None:
    """The user's home folder (``$HOME``, else the password database's entry), or None where neither gives one: a
    container run with ``--user 12345`` and no ``HOME``, whose user id has no entry."""
    try:
        return Path.home()
    except (RuntimeError, KeyError):  # "Could not determine home directory." (KeyError: Python < 3.12's pwd lookup)
        return None


def cache_root() -> Path:
    """``$MMDISTILL_CACHE``, else ``$XDG_CACHE_HOME/mmdistill``, else ``~/.cache/mmdistill`` (an empty variable is
    unset; a relative ``XDG_CACHE_HOME`` too, as the XDG spec says: it made the cache a folder of whatever folder the
    command ran in); ConfigError, one line naming the variables to set, where none is set and the user has no home folder."""
    if os.environ.get("MMDISTILL_CACHE"):
        return Path(os.environ["MMDISTILL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME")
    if base and not Path(base).expanduser().is_absolute():  # the XDG spec: a relative path is invalid and ignored
        log.debug("XDG_CACHE_HOME=%s is not an absolute path: ignored, as the XDG Base Directory spec says", base)
        base = None
    if not base:
        home = home_folder()
        if home is None:
            raise ConfigError(f"no cache folder: MMDISTILL_CACHE and XDG_CACHE_HOME are unset and user id {os.getuid()} has "
                              "no home folder (HOME is unset and the password database has no entry); set MMDISTILL_CACHE "
                              "to a writable folder")
        base = str(home / ".cache")
    return Path(base).expanduser() / "mmdistill"


def name_unnamed_user() -> None:
    """Set ``USER=uid<N>`` where the user has no name: no ``LOGNAME``/``USER``/``LNAME``/``USERNAME`` and a user id
    without an entry in the password database (a container run with ``--user 12345``). torch < 2.13 names its compile
    cache ``<tmp>/torchinductor_<user>`` through :func:`getpass.getuser`, which raises ``KeyError`` there, and
    ``torch._dynamo``, which building any optimizer imports, asks for it: every run stopped with a traceback (pytorch
    issue 140765). Entry points call it; nothing is changed where a name is found."""
    try:
        getpass.getuser()
    except (KeyError, OSError):  # OSError: Python 3.13's getuser where no name is found
        os.environ["USER"] = f"uid{os.getuid()}"
        log.debug("user id %d has no name (no USER and no password-database entry): USER=%s set for torch's cache names",
                  os.getuid(), os.environ["USER"])


__all__ = ["cache_root", "home_folder", "name_unnamed_user"]
