"""What a checkpoint records of the matching network, and the refusal of a resume with a network defined otherwise.

A user's own network (``register_network`` or an ``mmdistill.networks`` plugin) is resumed under its name; edited
between the stop and the ``--resume`` (a layer added, a width or an activation changed), the same name would finish
a set matched half against one network and half against another. The checkpoint's ``resume_keys`` therefore carry,
beside the config keys, :data:`NETWORK_KEY`: the network's parameter count and a digest of its layers (each
module's name and class) and parameters (each name and shape). Weights are not part of it: the network is
re-initialised during distillation, and its start depends on the seed, which is a config key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from torch import nn
from torch.nn.parameter import is_lazy

from mmdistill.errors import ConfigError

#: the entry of a checkpoint's ``resume_keys`` that identifies the matching network (not a config key: a checkpoint
#: written before it existed has none, and is not checked)
NETWORK_KEY = "matching_network"


def network_identity(net: nn.Module) -> dict[str, Any]:
    """``{"parameters": N, "layout": digest}`` of ``net``: N its parameter count (elements; a lazy parameter counts 0),
    the digest a sha256 (16 hex digits) of its modules' names and classes and its parameters' names and shapes."""
    params = list(net.named_parameters())
    layout = {"modules": [[name, type(m).__qualname__] for name, m in net.named_modules()],
              "parameters": [[name, "lazy" if is_lazy(p) else list(p.shape)] for name, p in params]}
    digest = hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest()[:16]
    return {"parameters": sum(0 if is_lazy(p) else p.numel() for _, p in params), "layout": digest}


def check_same_network(path: Path, saved: Any, now: Any, network: Any = None) -> None:
    """ConfigError when the checkpoint ``path`` was written while matching with a network of another layout than
    ``now`` (both :func:`network_identity`; ``network`` its name, for the message). Not checked when either side has
    none (a checkpoint written before it was recorded)."""
    if not isinstance(saved, dict) or not isinstance(now, dict) or saved == now:
        return
    count = (f"{saved.get('parameters')} parameters -> {now.get('parameters')}" if saved.get("parameters") != now.get("parameters")
             else "the same parameter count, other layers or shapes")
    name = f" {network!r}" if isinstance(network, str) else ""
    raise ConfigError(f"cannot resume {path}: the matching network{name} is not the network the run was distilling with "
                      f"({count}): its definition changed since the checkpoint, and the set would be matched against both; "
                      "resume with the definition it was written with, or start over (--overwrite) or choose another --out")


__all__ = ["NETWORK_KEY", "check_same_network", "network_identity"]
