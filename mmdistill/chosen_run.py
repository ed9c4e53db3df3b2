"""``mmdistill run RECIPE --config DIR``: the keys of a finished run (the one a tuning sweep chose) as a config layer.

After a sweep scored on ``validation=0.1`` (``mmdistill compare`` lists it), the final run takes the chosen run's keys
without retyping them: ``mmdistill run image-dm --config runs/sweep/dm-lr10-ipc10-s0 validation=0 --out runs/final``.
The layer holds the keys that run was *given* (its manifest's ``config_sources`` names an explicit layer for them: flags,
``key=value``, a YAML file, an earlier run), not the values its tables derived (they are derived again, so a changed
``ipc`` takes its own rows), nor where or how it ran (``out``, ``resume``, ``overwrite``, ``progress`` ...: :data:`NOT_CARRIED`). The layer's name, recorded
in the new run's ``config_sources`` beside each key it gave and on its card, names the run folder and the split it was scored on — the
record a published number needs that its keys were chosen on validation, not on the test split.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from mmdistill.scored_on import CHOSEN_RUN, RESCORED_SOURCE
from mmdistill.errors import ConfigError
from mmdistill.io import MANIFEST_FILE, read_json
from mmdistill.keys import input_keys, plain_value
from mmdistill.resolve import Layer

log = logging.getLogger(__name__)

#: keys of a run that say where and how it ran, not what it distilled or how it was scored: never carried to the next
#: run (nor a column of ``mmdistill compare``)
NOT_CARRIED = frozenset({"out", "resume", "overwrite", "progress", "checkpoint_every", "checkpoint_minutes", "download"})


def manifest_path(config: str | Path) -> Path | None:
    """The manifest ``--config`` names (a run folder, or its ``manifest.json``); None for a YAML file."""
    path = Path(config)
    if path.is_dir():
        if not (path / MANIFEST_FILE).is_file():
            raise ConfigError(f"--config {path}: a folder without {MANIFEST_FILE}; pass a YAML file of key: value pairs, or a "
                              "finished run's folder (a run still going, stopped or failed has no manifest yet)", key="config")
        return path / MANIFEST_FILE
    return path if path.name == MANIFEST_FILE else None


def run_layer(manifest_file: Path, recipe: str) -> tuple[Layer, dict[str, Any]]:
    """The layer of the keys the run of ``manifest_file`` was given (see the module), and that run's whole config.
    ConfigError when the run is of another recipe than ``recipe`` or its manifest records no ``config_sources``."""
    manifest = read_json(manifest_file)
    config = manifest.get("config") if isinstance(manifest, dict) else None
    sources = manifest.get("config_sources") if isinstance(manifest, dict) else None
    if not isinstance(config, dict) or not isinstance(sources, dict):
        raise ConfigError(f"--config {manifest_file}: records no 'config' and 'config_sources' objects, so which keys the run "
                          "was given is unknown; write them in a YAML file", key="config")
    if manifest.get("recipe") != recipe:
        raise ConfigError(f"--config {manifest_file}: a run of recipe {manifest.get('recipe')!r}, not {recipe}; its keys mean "
                          f"what they mean there: run `mmdistill run {manifest.get('recipe')} --config ...`", key="config")
    given = {k: config[k] for k, source in sources.items()  # not a rescoring's values (eval --write --no-baselines: baselines=[])
             if k in config and k not in NOT_CARRIED and not str(source).startswith("tables/") and source != RESCORED_SOURCE}
    metrics = manifest.get("metrics") if isinstance(manifest.get("metrics"), dict) else {}
    split = (metrics.get("protocol") or {}).get("scored_on") or ("validation" if config.get("validation") else "test")
    folder = manifest_file.parent
    name = f"{CHOSEN_RUN}{folder} (scored on {split}" + (f", validation={config['validation']})" if config.get("validation") else ")")
    log.info("--config %s: the keys that run was given: %s", folder, ", ".join(f"{k}={v}" for k, v in given.items()) or "none")
    return (name, given), config


def warn_unlike_run(cfg: Any, saved: Mapping[str, Any], layer: str, explicit_later: set[str]) -> None:
    """Name the keys of ``cfg`` that differ from the chosen run's ``saved`` config although no later layer set them: a
    warning for keys that shape the distillation (a table row or default changed since that run: the new run is not the
    run that was chosen), an INFO line for evaluation keys (``mmdistill eval --write`` rescored that run otherwise, e.g.
    ``--no-baselines``; the new run scores as its own keys say). ``validation`` left at the chosen run's fraction gets
    an INFO line on scoring the test split."""
    from mmdistill.report import is_evaluation_key

    plain = {k: getattr(cfg, k) for k in input_keys(type(cfg))}
    unlike = {k: f"{k}={plain[k]!r} (the run had {saved[k]!r})" for k in sorted(saved)
              if k in plain and k not in NOT_CARRIED and k not in explicit_later and saved[k] != plain_value(plain[k])}
    shaping = [text for k, text in unlike.items() if not is_evaluation_key(k)]
    scoring = [text for k, text in unlike.items() if is_evaluation_key(k)]
    if shaping:
        log.warning("%s: this run's %s differ from that run's though no flag or key=value set them (a table row or default "
                    "changed since): it is not the run that was chosen", layer, "; ".join(shaping))
    if scoring:
        log.info("%s: this run is scored with %s (that run's evaluation keys as a later `mmdistill eval --write` left them; "
                 "set them to score as it did)", layer, "; ".join(scoring))
    if saved.get("validation") and "validation" not in explicit_later:
        log.info("%s: validation=%s is carried, so this run is scored on the same validation split; pass validation=0 to "
                 "score the chosen keys on the test split", layer, saved["validation"])


__all__ = ["NOT_CARRIED", "manifest_path", "run_layer", "warn_unlike_run"]
