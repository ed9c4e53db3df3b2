"""The ``mmdistill`` command.

    mmdistill recipes                          list recipes, one line each
    mmdistill run RECIPE [--key value ...] [key=value ...] [--config FILE]
    mmdistill experts RECIPE [--key value ...]  train a trajectory recipe's expert buffer
                                               (torchrun --nproc_per_node K -m mmdistill experts ... shards it)
    mmdistill eval DIR [--runs K] [--networks a,b] [--cross-arch] [--write] [key=value ...]
                                               (torchrun ... -m mmdistill run|eval ... spreads DM's classes with
                                               shard_classes=true, and the evaluation runs, over K processes)
    mmdistill compare DIR ...                  a sweep's runs side by side from their manifests (one row per setting,
                                               seeds pooled, best first, each row's scored split named)
    mmdistill show DIR                         summary of a saved set (the card's summary); checks its files against
                                               the sha256 recorded when they were written (what a receiver runs)
    mmdistill check DIR [--data-root PATH] [--no-write] [--download] [--membership [--runs K] ...]
                                               memorisation check (memorisation.png, the card); --membership: attacks on its models
    mmdistill export DIR [--to PATH]           the set in the modality's natural format
    mmdistill export DIR --to hf [OUT]         a Hugging Face dataset (save_to_disk + parquet + card; DIR/export-hf)
                 [--without-real-samples]      either, without the real samples the set carries (image-text's captions)
    mmdistill cache [clear KIND ... | --all]   the caches (decoded clips, caption embeddings ...), or clear them
    mmdistill merge DIR DIR ... --out OUT [--dataset NAME]
                                               sets of part of the classes (tasks, clients) joined by class name
    mmdistill continual RECIPE --dataset NAME --out OUT   class-incremental steps: distilled vs random, herding memories
    mmdistill import RECIPE FILE|DIR ...       a set (DC's res_*.pt, MTT's images_*.pt) or MTT's expert buffer, made by
                                               the reference code, as an mmdistill run folder or buffer

DIR is a run folder or an export made with --to hf.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from mmdistill.cache_cli import add_parser as add_cache_parser, command_lines as cache_lines
from mmdistill.cli_parser import Parser, import_usage, unrecognized
from mmdistill.continual_cli import add_parser as add_continual_parser, cmd_continual
from mmdistill.errors import ConfigError
from mmdistill.exits import EXPECTED, closed_stdout, expected, fail, progress_bars
from mmdistill.log_state import logging_given_back
from mmdistill.saved_cli import add_membership_flags, cmd_check, cmd_eval, load_saved
from mmdistill.stop_signals import stop_says, terminate_as_interrupt

if TYPE_CHECKING:
    from mmdistill.recipe import Recipe


def recipe_listing(trajectory_only: bool = False) -> str:
    """One line per recipe (``name  summary``); only the trajectory recipes (those with experts) on request."""
    from mmdistill.recipes import RECIPES, TRAJECTORY_RECIPES, recipe_summaries

    summaries = recipe_summaries()  # mmdistill's own and the installed plugins' (not imported: which have experts is unknown)
    names = sorted(n for n in summaries if not trajectory_only or n in TRAJECTORY_RECIPES or n not in RECIPES)
    width = max(len(n) for n in names)
    return "\n".join(f"  {name:<{width}}  {summaries[name]}" for name in names)


def _cmd_cache(args: argparse.Namespace) -> int:
    print("\n".join(cache_lines(args)))
    return 0


def _cmd_recipes(_: argparse.Namespace) -> int:
    print(recipe_listing().replace("\n  ", "\n").lstrip())
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from mmdistill.compare import compare_lines

    print("\n".join(compare_lines(args.dirs, args.folds)))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from mmdistill.integrity import integrity_line, rewritten_since
    from mmdistill.io import SYNTHETIC_FILE
    from mmdistill.words import shown
    from mmdistill.recipes import get_recipe
    from mmdistill.share import load, manifest_fields, saved_recipe, set_dir

    folder = set_dir(args.dir)
    # show is how a receiver checks a set: every check of mmdistill.load (the files against their recorded digests, the
    # class names, the adapter decoding the tensors, the normalisation statistics), and a recipe export and eval know
    loaded = load(args.dir)
    saved_recipe(loaded.manifest, folder, get_recipe)
    with manifest_fields(folder):
        _show(args, loaded.synthetic, loaded.manifest, loaded.modality)
    print("  " + integrity_line(folder, loaded.manifest, SYNTHETIC_FILE))
    changed = [shown(name) for name in rewritten_since(folder, loaded.manifest)]  # names a received manifest gives
    if changed:  # the set itself matched above; these describe it
        print(f"  note: {', '.join(changed)} {'is' if len(changed) == 1 else 'are'} no longer as the manifest records writing "
              f"{'it' if len(changed) == 1 else 'them'} (edited since, or an eval --write or check stopped before writing the "
              f"manifest): `mmdistill eval {args.dir} --write` scores the set again and writes the card, accuracy.png and manifest together")
    return 0


def _show(args: argparse.Namespace, syn, manifest: dict, modality) -> None:
    from mmdistill.card import card_summary, classes_phrase, merged_part_words
    from mmdistill.report import budget_label, cross_arch_lines, summary_line
    from mmdistill.share import step_size_of
    from mmdistill.words import shown, shown_values

    manifest = shown_values(manifest)  # a received manifest's text (paper, metric names ...) adds no line or escape sequence
    print(f"{args.dir}: recipe {manifest.get('recipe')}, modality {manifest.get('modality')}, method {manifest.get('method')}")
    print(f"  dataset {manifest.get('dataset')}, {classes_phrase(syn.num_classes)}{budget_label(manifest)}, seed {manifest.get('seed')}, "
          f"labels {syn.label_mode}")
    for name, tensor in syn.tensors().items():
        print(f"  {shown(name)}: {tuple(tensor.shape)} {str(tensor.dtype).replace('torch.', '')}")
    timing = manifest.get("timing", {})
    if timing:
        print(f"  distillation {timing.get('seconds', 0):.1f} s for {timing.get('iterations')} iterations; "
              f"evaluation {timing.get('eval_seconds', 0):.1f} s")
    if "metrics" in manifest:
        print("  " + summary_line(manifest))
        for line in cross_arch_lines(manifest["metrics"]):
            print(line)
    for part in manifest.get("merged_from") or []:  # mmdistill merge's parts: the classes each gave, or its pairs
        if isinstance(part, dict) and (gave := merged_part_words(part, manifest, modality)):
            print(f"  merged from {shown(str(part.get('dir')))}: {gave}")
    step = step_size_of(syn)
    if step is not None:
        print(f"  learned step size: {step}")
    print("  card: " + card_summary(manifest, modality).replace("\n", "\n        "))
    for pic in ("preview.png", "preview.gif", "loss.png", "accuracy.png", "memorisation.png", "README.md"):  # gif: a video's
        if (Path(args.dir) / pic).exists():
            print(f"  {'card file' if pic == 'README.md' else 'picture'}: {Path(args.dir) / pic}")


def _cmd_export(args: argparse.Namespace) -> int:
    from mmdistill.card import counted, render_card
    from mmdistill.report import write_card

    to = list(args.to or [])
    if to[:1] == ["hf"]:
        from mmdistill.share import export_hf

        if len(to) > 2:
            raise ConfigError(f"--to hf takes one output folder, got {to[1:]}")
        target = Path(to[1]) if len(to) == 2 else Path(args.dir) / "export-hf"
        out = export_hf(args.dir, target, progress=sys.stderr.isatty(), without_real_samples=args.without_real_samples)  # bars: a person
        print(f"exported a Hugging Face dataset to {out} (datasets.load_from_disk; parquet in {out / 'data'}; card {out / 'README.md'})")
        return 0
    if len(to) > 1:
        raise ConfigError(f"--to takes one output folder (or 'hf OUT'), got {to}")
    from mmdistill.real_samples import warn_own_copies, without_real_samples
    from mmdistill.share import export_natural, manifest_fields, set_dir

    syn, manifest, recipe, modality = load_saved(args.dir)
    if args.without_real_samples:  # the card and files alike; the set's own copies are said
        warn_own_copies(manifest, args.dir)
        syn = without_real_samples(syn, modality, args.dir)
    manifest.setdefault("paper", recipe.paper)
    with manifest_fields(set_dir(args.dir)):  # a manifest the card cannot be made from stops before anything is written
        render_card({**manifest, "synthetic": syn.header()}, modality, where="export")
    target = Path(to[0]) if to else Path(args.dir) / "export"
    out = export_natural(modality, syn, target, set_dir(args.dir))
    if Path(out).is_dir() and not (Path(out) / "README.md").exists():
        note = modality.export_note(syn) if callable(getattr(modality, "export_note", None)) else None  # reading it elsewhere
        write_card(Path(out), {**manifest, "export_files": sorted(p.name for p in Path(out).iterdir())}, modality, syn, where="export",
                   export_note=note)
    written = len(modality.labels_of(syn)) if callable(getattr(modality, "labels_of", None)) else len(syn)  # decoded: 5 stored AV pairs write 20
    print(f"exported {counted(written, manifest, modality)} to {out}")
    return 0


def _cmd_continual(args: argparse.Namespace) -> int:
    from mmdistill.recipes import get_recipe
    return cmd_continual(args, get_recipe, print)


def _cmd_merge(args: argparse.Namespace) -> int:
    from mmdistill.merge import checked_dirs, merge

    classes = [c.strip() for c in args.classes.split(",") if c.strip()] if args.classes else None
    merge(checked_dirs(args.dirs), args.out, dataset=args.dataset, data_root=args.data_root, classes=classes, overwrite=args.overwrite,
          evaluate=not args.no_evaluate, say=print)
    return 0


def _cmd_run(args: argparse.Namespace, rest: list[str], debug: bool = False) -> int:
    from mmdistill.recipes import get_recipe

    recipe = get_recipe(args.recipe)
    return recipe.main(rest, debug=debug)


def _cmd_experts(recipe_name: str, rest: list[str]) -> int:
    from mmdistill.recipes import get_recipe
    from mmdistill.methods.trajectory_keys import TrajectoryKeys
    from mmdistill.expert_runs import run_experts_command
    from mmdistill.expert_space import log_input_space
    from mmdistill.recipe_cli import config_from_argv
    from mmdistill.words import quantity

    recipe = get_recipe(recipe_name)
    if not issubclass(recipe.config_cls, TrajectoryKeys):
        raise ConfigError(f"recipe {recipe.name} does not match trajectories and has no experts; use a trajectory "
                          "recipe such as image-mtt (a buffer of the run's own network also gives other recipes soft labels)")
    cfg = config_from_argv(recipe, rest, prog=f"mmdistill experts {recipe.name}")
    log_input_space(recipe, cfg)  # a buffer serves only the runs of its input space (zca): say which, and which IPCs differ
    buffer = run_experts_command(recipe, cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        finals = [s[-1] for s in buffer.scores() if s and s[-1] is not None]
        split = "validation" if getattr(cfg, "validation", 0) else "test"  # a validation= buffer is scored on the held-out part
        score = f"; final {split} score {100 * sum(finals) / len(finals):.2f} % on average" if finals else ""
        print(f"{quantity(buffer.num_experts, 'expert')} of {quantity(buffer.epochs, 'epoch')} ({buffer.num_params} parameters "
              f"each) in {buffer.path}{score}")
    return 0


DIR_HELP = "a run folder, or an export made with --to hf"


def build_parser() -> argparse.ArgumentParser:
    """The ``mmdistill`` argument parser: ``--debug`` and the subcommands ``recipes``, ``run``, ``experts``, ``eval``,
    ``show``, ``export``, ``check`` and ``cache`` (module docstring). ``run`` and ``experts`` take only the recipe name here;
    :func:`main` hands their keys to the recipe."""
    parser = Parser(prog="mmdistill", description="Dataset distillation beyond images.")
    parser.add_argument("--debug", action="store_true", help="debug logging, and tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("recipes", help="list the recipes, one line each")
    p_run = sub.add_parser("run", help="run a recipe (mmdistill run RECIPE --help for its keys)",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Run a recipe: mmdistill run RECIPE [--key value ...] [key=value ...] [--config FILE].\n"
                           "mmdistill run RECIPE --help lists the recipe's keys: what each is, its unit, range and (paper) default; after a\nrun's "
                           "arguments (--dataset cifar10 --ipc 1 --help) the values that run would use; --print-config prints them as YAML.",
                           epilog="recipes:\n" + recipe_listing())
    p_run.add_argument("recipe", help="a recipe name (below)")
    p_exp = sub.add_parser("experts", help="train the expert trajectories of a trajectory recipe (RECIPE --help for its keys)",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Train a trajectory recipe's expert buffer: mmdistill experts RECIPE --buffer DIR [--key value ...];\n"
                           "torchrun --nproc_per_node K -m mmdistill experts ... shards the experts over K processes.",
                           epilog="trajectory recipes (and installed packages' recipes: experts takes those whose config has the trajectory keys):\n" + recipe_listing(trajectory_only=True))
    p_exp.add_argument("recipe", help="a trajectory recipe name (below)")
    p_eval = sub.add_parser("eval", help="re-evaluate a saved set",
                            description="Evaluate a saved set again. Every flag defaults to the saved run's value.")
    p_eval.add_argument("dir", help=DIR_HELP)
    p_eval.add_argument("--runs", type=int, default=None, help="evaluation networks per set (eval_runs)")
    p_eval.add_argument("--epochs", type=int, default=None, help="training epochs per evaluation network (eval_epochs)")
    p_eval.add_argument("--networks", type=lambda s: [x for x in s.split(",") if x], default=None,
                        help="comma-separated network names (eval_networks)")
    p_eval.add_argument("--cross-arch", action="store_true", help="evaluate on the recipe's cross-architecture networks instead "
                        "of the saved choice (cross_arch; images and audio: ConvNet, MLP, LeNet, AlexNet, VGG11, ResNet18; video: "
                        "ConvNet3D, framepool, framegru, framelstm; graphs: SGC, GCN, GraphSAGE, APPNP, Cheby, MLP; audio-visual: "
                        "AVDD's ConvNet pair, then MLP ... ResNet18 as both encoders; sequences: adds GRU4Rec)")
    p_eval.add_argument("--data-root", default=None, help="where the real dataset lives on this machine (data_root)")
    p_eval.add_argument("--device", default=None, help="torch device: auto, cpu, cuda, cuda:1 ... (device)")
    p_eval.add_argument("--vectorize", type=int, default=None, help="evaluation runs trained together (eval_vectorize); "
                        "under torchrun the groups go to the processes in turn")
    p_eval.add_argument("--no-baselines", action="store_true", help="skip the baselines (random real, herding ...; baselines=); a recipe's whole-training-data row, when not a baseline, has its own key: run RECIPE --help)")
    p_eval.add_argument("--write", action="store_true",
                        help="store the new metrics in the manifest, the card and accuracy.png (sets not scored again, e.g. "
                             "the baselines after --no-baselines, move under metrics.earlier with their protocol)")
    p_eval.add_argument("key=value", nargs="*", default=[], help="evaluation keys (those that leave the distillation as it was, e.g. eval_runs=5), "
                                                     "anywhere after DIR")
    p_show = sub.add_parser("show", help="summarise a saved set, checking its files against their recorded sha256 (a received set)")
    p_show.add_argument("dir", help=DIR_HELP)
    p_compare = sub.add_parser("compare", help="runs of a sweep side by side, from their manifests (tuning on validation=)")
    p_compare.add_argument("dirs", nargs="+", metavar="DIR", help="run folders, or folders that hold run folders")
    p_compare.add_argument("--folds", action="store_true", help="pool the runs of each official fold (test_fold): cross-validation")
    p_export = sub.add_parser("export", help="export a saved set to the modality's natural format")
    p_export.add_argument("dir", help=DIR_HELP)
    p_export.add_argument("--to", nargs="+", default=None, metavar="PATH",
                          help="output directory (default DIR/export), or 'hf [OUT]' for a Hugging Face dataset (default DIR/export-hf)")
    p_export.add_argument("--without-real-samples", action="store_true", help="leave out the real training samples the set's record "
                          "and files carry as written (image-text: its real captions); the card says what was left out")
    p_check = sub.add_parser("check", help="memorisation check of a saved set: distances to the nearest real samples")
    p_check.add_argument("dir", help=DIR_HELP)
    p_check.add_argument("--data-root", default=None, help="where the real dataset lives on this machine (default: the saved run's data_root)")
    p_check.add_argument("--no-write", action="store_true", help="print only; leave the manifest, card and pictures as they are")
    p_check.add_argument("--download", action="store_true", help="allow downloading the real dataset when it is not found (the "
                         "saved run's download is not followed)")
    add_membership_flags(p_check)  # --membership, --runs, --references, --members, --epochs: mmdistill.membership_cli
    p_merge = sub.add_parser("merge", help="join saved sets of parts of the classes or data (tasks, clients) by class name into one set")
    p_merge.add_argument("dirs", nargs="+", metavar="DIR", help="saved sets of one recipe (run folders or --to hf exports)")
    p_merge.add_argument("--out", required=True, help="folder of the merged set")
    p_merge.add_argument("--dataset", default=None, help="the data the merged set is for: its classes, their order and its mean/std "
                         "(default: the first set's dataset)")
    p_merge.add_argument("--data-root", default=None, help="where that data lives")
    p_merge.add_argument("--classes", default=None, help="only these classes of that data, by name, comma-separated (a replay "
                         "memory of the tasks so far, scored on their classes; as the classes= key of a run)")
    p_merge.add_argument("--overwrite", action="store_true", help="replace a set already in --out")
    p_merge.add_argument("--no-evaluate", action="store_true", help="write the set without scoring it")
    add_cache_parser(sub)
    add_continual_parser(sub)
    p_imp = sub.add_parser("import", help="a set or MTT expert buffer made by the reference code, as an mmdistill run or buffer",
                           formatter_class=argparse.RawDescriptionHelpFormatter, description=import_usage())
    p_imp.add_argument("recipe", help="the recipe whose evaluation (and network) the set or buffer is for: image-dc, image-mtt ...")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``; a leading ``--debug`` gives debug logging and
    tracebacks) and return the exit code: 0 on success, else the code :mod:`mmdistill.exits` gives an expected failure
    (ConfigError 2, DataError 3, ArtifactError 4, ...), reported as one line on stderr. As the program (no ``argv``),
    a process that joined a torchrun group ends here (:func:`mmdistill.distributed.end_process`)."""
    with logging_given_back():  # a command run in a process that goes on (a script, a kernel) leaves its logging as it was
        code = _command(argv)
    return code if argv is not None else _program_ends(code)


def script_main(script: str) -> int:
    """The program ``python recipes/NAME.py [--debug] ARGS``, a recipe's file or a user's copy of one (``script``, its
    ``__file__``): the file's ``RECIPE.main(ARGS)`` started as ``mmdistill run`` is — a stop while torch and the file
    load is one line and exit 130, a process of a torchrun group ends it. The file is imported by its package name when
    it is one of mmdistill's recipes, else from its path; its ``RECIPE`` must be a :class:`~mmdistill.recipe.Recipe`."""
    argv = sys.argv[1:]
    debug = "--debug" in argv[:1]
    callers_bars = progress_bars()
    with logging_given_back():  # a notebook's %run recipes/NAME.py: the kernel's logging as it was after
        try:
            with _starting(debug):
                recipe = _script_recipe(Path(script))
            code = recipe.main(argv[1:] if debug else argv, debug=debug)
        except EXPECTED as exc:
            if debug or not expected(exc):
                raise
            code = fail(exc, keep=callers_bars)
    return _program_ends(code)


def _program_ends(code: int) -> int:
    """``code``, after a process that joined a torchrun group left it (:func:`mmdistill.distributed.end_process`)."""
    distributed = sys.modules.get("mmdistill.distributed")  # not imported here: a stop may have left torch half-imported
    return code if distributed is None else distributed.end_process(code)


def _script_recipe(script: Path) -> "Recipe":
    """The ``RECIPE`` of the recipe file ``script`` (see :func:`script_main`)."""
    import importlib.util

    from mmdistill.recipe import Recipe

    packaged = Path(importlib.import_module("mmdistill.recipes").__file__ or "").parent
    if script.resolve().parent == packaged.resolve():
        module = importlib.import_module(f"mmdistill.recipes.{script.stem}")
    else:  # a user's copy of a recipe file: run as the file it is
        spec = importlib.util.spec_from_file_location(f"mmdistill_script_{script.stem}", script)
        if spec is None or spec.loader is None:
            raise ConfigError(f"{script}: not a Python file a recipe can be read from")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up while the file's Config is made
        spec.loader.exec_module(module)
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise ConfigError(f"{script}: RECIPE must be a mmdistill.recipe.Recipe (as in mmdistill's recipes/*.py), got "
                          f"{type(recipe).__name__}")
    return recipe


@contextmanager
def _starting(debug: bool) -> Iterator[None]:
    """Imports and logging of a command's start: a stop while torch, tqdm and the recipes load (2-3 s) is one line,
    the module's top imports none of them."""
    with stop_says("it was starting (importing torch and the recipes) and had read and written nothing: run the same "
                   "command again"):
        import numpy  # noqa: F401 - before torch, whose C start-up swallows a stop inside its own numpy import
        from mmdistill.logs import start_entry_point

        start_entry_point(debug)
        yield


def _command(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:1]
    argv = argv[1:] if debug else argv
    callers_bars = progress_bars()  # a program running this command in its own loop keeps its bars on an error
    try:
        with _starting(debug):
            parser = build_parser()  # its recipe listing loads no torch: `recipes`, --help and a mistyped command answer at once
            if argv[:1] in (["eval"], ["show"], ["compare"], ["export"], ["check"], ["cache"], ["merge"], ["continual"]) or (
                    argv[:1] in (["run"], ["experts"], ["import"]) and len(argv) > 1 and not argv[1].startswith("-")):
                importlib.import_module("mmdistill.recipe")  # torch and the core load here, where a stop is one line
        if argv[:1] in (["run"], ["experts"], ["import"]):
            if len(argv) < 2 or argv[1].startswith("-"):
                parser.parse_args([argv[0], "--help"] if "--help" in argv or "-h" in argv else [argv[0]])
            if argv[0] == "import":
                from mmdistill.recipes import get_recipe
                from mmdistill.reference_cli import cmd_import

                with terminate_as_interrupt(), stop_says("import leaves nothing half-written: run the same command again"):
                    return cmd_import(get_recipe(argv[1]), argv[2:], print)
            if argv[0] == "experts":
                with terminate_as_interrupt():  # SIGTERM stops as Ctrl-C does (exit 143); Recipe.main does it for run
                    return _cmd_experts(argv[1], argv[2:])
            return _cmd_run(argparse.Namespace(recipe=argv[1]), argv[2:], debug)
        from mmdistill.recipe_cli import hyphenated_flags

        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices  # noqa: SLF001
        args, extra = parser.parse_known_args(hyphenated_flags(argv, {f for p in commands.values() for f in p._option_string_actions}))
        if args.command in ("eval", "continual"):  # key=value pairs may stand between the flags
            args.overrides = list(getattr(args, "key=value")) + [a for a in extra if "=" in a and not a.startswith("-")]
            extra = [a for a in extra if a not in args.overrides]
        if extra:
            parser.error(unrecognized(commands[args.command], extra))
        # SIGTERM stops these with one line and 143 too, as it stops run and experts; they have no checkpoint and no --resume
        with terminate_as_interrupt(), stop_says(f"{args.command} leaves nothing half-written (what it writes is replaced whole "
                                                 "or not at all): run the same command again"):
            return {"recipes": _cmd_recipes, "eval": lambda a: cmd_eval(a, print), "show": _cmd_show, "compare": _cmd_compare, "export": _cmd_export,
                    "check": lambda a: cmd_check(a, print), "cache": _cmd_cache,
                    "merge": _cmd_merge, "continual": _cmd_continual}[args.command](args)
    except BrokenPipeError:
        return closed_stdout()
    except EXPECTED as exc:
        if debug or not expected(exc):
            raise
        return fail(exc, keep=callers_bars)


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["main", "build_parser", "script_main"]
