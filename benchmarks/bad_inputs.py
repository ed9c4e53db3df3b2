"""Bad input as a new user would give it: every case runs the real command line in a fresh process and is
recorded with its exit code, the first line of its message, and whether a traceback reached the user.

    python benchmarks/bad_inputs.py [--out benchmarks/results/bad_inputs.json]
    python benchmarks/bad_inputs.py --only graph,image [--out FILE]   # some cases; the recorded table is left as it is

Prints a table (case, exit code, message) and the two counts the project holds at zero: tracebacks shown for
an expected failure, and runs lost or silently replaced. Data is generated in a temporary folder; nothing
from ../shared is needed.
"""

from __future__ import annotations

import argparse
import os
import json
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, result_path  # noqa: E402

from mmdistill.io import write_json  # noqa: E402

FAST_IMAGE = ["--dataset", "digits", "--ipc", "1", "iterations=3", "batch_real=8", "eval_runs=1", "eval_epochs=1",
              "herding_epochs=1", "--no-progress"]
FAST_AUDIO = ["--ipc", "1", "iterations=2", "batch_real=4", "eval_runs=1", "eval_epochs=1", "herding_epochs=1", "--no-progress"]
FAST_GRAPH = ["--dataset", "sbm:90:3:8", "--ipc", "3", "iterations=2", "eval_runs=1", "eval_epochs=2", "hidden=8",
              "pge_hidden=8", "--no-progress"]
FAST_SEQUENCES = ["--dataset", "generated:40:40", "max_len=10", "seq_len=8", "seq_num=4", "learner_batch=2", "hidden_size=8",
                  "inner_size=16", "inner_steps=4", "window=2", "batch_real=16", "pretrain_epochs=1", "whole_epochs=1", "eval_runs=1",
                  "iterations=2", "--no-progress"]
FAST_TEXT = ["--dataset", "shapes", "--image-encoder", "convnet", "--text-encoder", "minilm", "--ipc", "4", "iterations=1",
             "eval_runs=1", "eval_epochs=1", "num_experts=1", "expert_train_epochs=2", "max_start_epoch=1", "expert_epochs=1",
             "syn_steps=1", "--no-progress"]
FAST_EXPERTS = ["--dataset", "digits", "--ipc", "1", "num_experts=2", "expert_train_epochs=3", "max_start_epoch=1", "expert_epochs=1",
                "--no-progress"]


@dataclass
class Case:
    group: str
    name: str
    argv: Callable[[Path], list[str]]
    setup: Callable[[Path], None] = lambda tmp: None
    check: Callable[[Path], str] = lambda tmp: ""  # "" when nothing was lost or replaced, else what was
    result: dict = field(default_factory=dict)


def mmdistill(*args: str) -> list[str]:
    return [sys.executable, "-m", "mmdistill", *args]


def _run(argv: list[str], timeout: float = 600) -> tuple[int, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stderr


def _finished_set(tmp: Path, name: str = "done") -> Path:
    out = tmp / name
    if not (out / "manifest.json").exists():
        code, err = _run(mmdistill("run", "image-dm", *FAST_IMAGE, "--out", str(out)))
        assert code == 0, err
    return out


def _fingerprint_of(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.append
    # 1. code execution from data folders
    def planetoid_payload(tmp: Path) -> None:
        raw = tmp / "cora" / "Cora" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        class Payload:
            def __reduce__(self):
                return (open, (str(tmp / "PAYLOAD_RAN"), "w"))
        for part in ("x", "tx", "allx", "y", "ty", "ally", "graph"):
            (raw / f"ind.cora.{part}").write_bytes(pickle.dumps(Payload(), protocol=2))
        (raw / "ind.cora.test.index").write_text("0\n")
    add(Case("code from data", "graph: Planetoid raw files with a payload", lambda t: mmdistill(
        "run", "graph-gcond", "--dataset", "cora", "--data-root", str(t / "cora"), "--out", str(t / "g")), planetoid_payload,
        lambda t: "payload ran" if (t / "PAYLOAD_RAN").exists() else ""))
    # 2. nothing lost
    def finished_no_ckpt(tmp: Path) -> None:
        out = _finished_set(tmp, "finished")
        (out / "checkpoint.safetensors").unlink(missing_ok=True)
    add(Case("nothing lost", "--resume onto a finished set without checkpoint", lambda t: mmdistill(
        "run", "image-dm", *FAST_IMAGE, "--out", str(t / "finished"), "--resume"), finished_no_ckpt,
        lambda t: "" if (t / "finished" / "synthetic.safetensors").exists() else "set replaced"))
    add(Case("nothing lost", "--resume with another configuration", lambda t: mmdistill(
        "run", "image-dm", *FAST_IMAGE, "--out", str(t / "done"), "--resume", "lr_data=3"), lambda t: _finished_set(t),
        lambda t: "" if json.loads((t / "done" / "manifest.json").read_text())["config"]["lr_data"] != 3 else "run replaced"))
    add(Case("nothing lost", "run into a folder holding a run", lambda t: mmdistill(
        "run", "image-dm", *FAST_IMAGE, "--out", str(t / "done")), lambda t: _finished_set(t)))
    # 3. values
    for recipe, fast in (("image-dm", FAST_IMAGE), ("audio-dm", FAST_AUDIO), ("graph-gcond", FAST_GRAPH), ("image-text-lors", FAST_TEXT)):
        for key, value in (("lr_data", "nan"), ("lr_data", "inf"), ("eval_lr", "nan"), ("eval_runs", "0"), ("ipc", "-1"),
                           ("iterations", "-5")):
            if recipe == "image-text-lors" and key == "eval_lr":
                key = "eval_lr_image"
            if recipe == "graph-gcond" and key == "lr_data":
                key = "lr_feat"  # graphs learn features at lr_feat (lr_data does not apply there)
            add(Case("values", f"{recipe}: {key}={value}", lambda t, r=recipe, f=fast, k=key, v=value: mmdistill(
                "run", r, *f, "--out", str(t / f"v-{r}-{k}"), f"{k}={v}")))
    add(Case("values", "unknown key", lambda t: mmdistill("run", "image-dm", *FAST_IMAGE, "ipcc=3")))
    for value in ("0", "nan"):  # the wall-time checkpoint interval (session 50)
        add(Case("values", f"image-dm: checkpoint_minutes={value}", lambda t, v=value: mmdistill(
            "run", "image-dm", *FAST_IMAGE, "--out", str(t / "v-ckmin"), f"checkpoint_minutes={v}")))
    for device in ("mps", "meta"):  # a Mac user's device on a machine without it; torch's data-less device
        add(Case("values", f"--device {device}", lambda t, d=device: mmdistill("run", "image-dm", *FAST_IMAGE, "--device", d,
                                                                             "--out", str(t / f"dev-{d}"))))
    add(Case("values", "graph-gcond --dsa (an image key)", lambda t: mmdistill("run", "graph-gcond", *FAST_GRAPH, "--dsa")))
    add(Case("values", "eval: --networks and --cross-arch together", lambda t: mmdistill(
        "eval", str(t / "done"), "--networks", "mlp", "--cross-arch"), lambda t: _finished_set(t)))
    add(Case("values", "eval: --networks naming an unknown network", lambda t: mmdistill(
        "eval", str(t / "done"), "--networks", "vit_b16", "--runs", "1", "--epochs", "1"), lambda t: _finished_set(t)))
    add(Case("values", "run: --eval-networks misspelt (stops before distilling)", lambda t: mmdistill(
        "run", "image-dm", *FAST_IMAGE, "--eval-networks", "convnett", "--out", str(t / "typo-net"))))
    add(Case("values", "run: an evaluation network that cannot take clips", lambda t: mmdistill(
        "run", "video-dm", "--ipc", "1", "--budget", "cpu", "iterations=2", "eval_runs=1", "eval_epochs=1", "md_train_per_class=2",
        "md_test_per_class=1", "eval_networks=convnet", "--no-progress", "--out", str(t / "clip-net"))))

    def two_folders(tmp: Path) -> None:  # a set distilled on classes a, b; another folder of classes c, d
        from PIL import Image

        for root, names in (("fa", "ab"), ("fb", "cd")):
            for split, n in (("train", 3), ("test", 1)):
                for c in names:
                    (tmp / root / split / c).mkdir(parents=True, exist_ok=True)
                    for i in range(n):
                        Image.new("L", (8, 8), 40 * i + (100 if c in "ac" else 0)).save(tmp / root / split / c / f"{i}.png")
        code, err = _run(mmdistill("run", "image-dm", "--dataset", "imagefolder", "--data-root", str(tmp / "fa"), "--ipc", "1",
                                   "iterations=2", "eval_runs=1", "eval_epochs=1", "herding_epochs=1", "--no-progress",
                                   "--out", str(tmp / "ab-set")))
        assert code == 0, err
    add(Case("data", "eval on a folder of other classes", lambda t: mmdistill(
        "eval", str(t / "ab-set"), "--data-root", str(t / "fb"), "--runs", "1", "--epochs", "1"), two_folders))

    def one_class(tmp: Path) -> None:  # an image folder of a single class (walk 39B: a trivial 100 % before)
        from PIL import Image

        for split, n in (("train", 3), ("test", 1)):
            (tmp / "one" / split / "cat").mkdir(parents=True, exist_ok=True)
            for i in range(n):
                Image.new("L", (8, 8), 40 * i).save(tmp / "one" / split / "cat" / f"{i}.png")
    add(Case("data", "an image folder of one class", lambda t: mmdistill(
        "run", "image-dm", "--dataset", "imagefolder", "--data-root", str(t / "one"), "--ipc", "1", "iterations=2", "eval_runs=1",
        "eval_epochs=1", "--no-progress", "--out", str(t / "one-run")), one_class))
    # 4. file system
    def blocker(tmp: Path) -> None:
        (tmp / "afile").write_text("x")
    add(Case("file system", "--out is a file", lambda t: mmdistill("run", "image-dm", *FAST_IMAGE, "--out", str(t / "afile")), blocker,
             lambda t: "" if (t / "afile").read_text() == "x" else "file replaced"))
    add(Case("file system", "--out under a file", lambda t: mmdistill("run", "image-dm", *FAST_IMAGE, "--out", str(t / "afile" / "run")), blocker))
    add(Case("file system", "missing --data-root", lambda t: mmdistill("run", "image-dm", "--dataset", "imagefolder", "--data-root", str(t / "nope"), "--out", str(t / "m"))))
    add(Case("file system", "eval of a missing folder", lambda t: mmdistill("eval", str(t / "nope"))))
    add(Case("file system", "export under a file", lambda t: mmdistill("export", str(t / "done"), "--to", str(t / "afile" / "x")),
             lambda t: (_finished_set(t), blocker(t)) and None))
    def used_target(tmp: Path) -> None:
        _finished_set(tmp)
        (tmp / "used").mkdir(exist_ok=True)
        (tmp / "used" / "notes.txt").write_text("mine")
    add(Case("file system", "export into a folder holding other files", lambda t: mmdistill("export", str(t / "done"), "--to", str(t / "used")),
             used_target, lambda t: "" if sorted(p.name for p in (t / "used").iterdir()) == ["notes.txt"] else "folder changed"))
    # 5. damaged artifacts
    def truncated_ckpt(tmp: Path) -> None:
        src = _finished_set(tmp)
        dst = tmp / "trunc"
        dst.mkdir(exist_ok=True)
        data = (src / "checkpoint.safetensors").read_bytes()
        (dst / "checkpoint.safetensors").write_bytes(data[: len(data) // 2])
    add(Case("damaged", "truncated checkpoint + --resume", lambda t: mmdistill("run", "image-dm", *FAST_IMAGE, "--out", str(t / "trunc"), "--resume"),
             truncated_ckpt, lambda t: "" if (t / "trunc" / "checkpoint.safetensors").exists() else "checkpoint lost"))
    def manifest_edit(tmp: Path, edit: Callable[[dict], None], name: str) -> None:
        src = _finished_set(tmp)
        dst = tmp / name
        dst.mkdir(exist_ok=True)
        for f in ("synthetic.safetensors",):
            (dst / f).write_bytes((src / f).read_bytes())
        m = json.loads((src / "manifest.json").read_text())
        edit(m)
        (dst / "manifest.json").write_text(json.dumps(m))
    add(Case("damaged", "manifest without synthetic.num_classes", lambda t: mmdistill("show", str(t / "nonc")),
             lambda t: manifest_edit(t, lambda m: m["synthetic"].pop("num_classes"), "nonc")))
    add(Case("damaged", "labels outside num_classes", lambda t: mmdistill("eval", str(t / "badlab")),
             lambda t: manifest_edit(t, lambda m: m["synthetic"].__setitem__("num_classes", 3), "badlab")))
    def not_json(tmp: Path) -> None:
        d = tmp / "nojson"
        d.mkdir(exist_ok=True)
        (d / "manifest.json").write_text("{not json")
    add(Case("damaged", "manifest that is not JSON", lambda t: mmdistill("export", str(t / "nojson")), not_json))
    def cut_item_ids(tmp: Path) -> None:  # a sequence summary whose manifest lists 3 item ids for the 40 its factors rank
        src = tmp / "seq"
        if not (src / "manifest.json").exists():
            code, err = _run(mmdistill("run", "sequences-farzi", *FAST_SEQUENCES, "--out", str(src)))
            assert code == 0, err
        dst = tmp / "seqcut"
        dst.mkdir(exist_ok=True)
        (dst / "synthetic.safetensors").write_bytes((src / "synthetic.safetensors").read_bytes())
        m = json.loads((src / "manifest.json").read_text())
        m["synthetic"]["meta"]["item_ids"] = m["synthetic"]["meta"]["item_ids"][:3]
        (dst / "manifest.json").write_text(json.dumps(m))
    add(Case("damaged", "sequence summary: item ids cut from its manifest", lambda t: mmdistill("export", str(t / "seqcut")),
             cut_item_ids, lambda t: "" if not (t / "seqcut" / "export").exists() else "export written"))
    def truncated_planetoid(tmp: Path) -> None:
        raw = tmp / "tcora" / "Cora" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        (raw / "ind.cora.x").write_bytes(b"\x80\x02}q\x00")
        for part in ("tx", "allx", "y", "ty", "ally", "graph"):
            (raw / f"ind.cora.{part}").write_bytes(b"\x80\x02")
        (raw / "ind.cora.test.index").write_text("0\n")
    add(Case("damaged", "truncated Planetoid raw file", lambda t: mmdistill("run", "graph-gcond", "--dataset", "cora", "--data-root", str(t / "tcora"), "--out", str(t / "tc")), truncated_planetoid))
    # 6. a set received from someone else (session 34's audit)
    add(Case("received", "manifest: recipe of another modality", lambda t: mmdistill("eval", str(t / "othermod")),
             lambda t: manifest_edit(t, lambda m: m.__setitem__("recipe", "graph-dm"), "othermod")))
    add(Case("received", "manifest: a negative ipc", lambda t: mmdistill("show", str(t / "negipc")),
             lambda t: manifest_edit(t, lambda m: m.__setitem__("ipc", -5), "negipc")))
    add(Case("received", "manifest: dataset name that would inject card metadata", lambda t: mmdistill(
        "export", str(t / "inject"), "--to", str(t / "inject-out")),
        lambda t: manifest_edit(t, lambda m: m.__setitem__("dataset", 'digits"\nlicense: mit'), "inject"),
        lambda t: "card header injected" if (t / "inject-out" / "README.md").exists()
        and "\nlicense: mit" in (t / "inject-out" / "README.md").read_text() else ""))
    add(Case("received", "eval of a set whose manifest asks to download", lambda t: mmdistill(
        "eval", str(t / "dl"), "--runs", "1", "--epochs", "1", "--no-baselines"),
        lambda t: manifest_edit(t, lambda m: m["config"].update(dataset="cifar10", data_root=str(t / "dl-root"), download=True), "dl"),
        lambda t: "downloaded" if (t / "dl-root").exists() and any((t / "dl-root").iterdir()) else ""))
    def two_releases(tmp: Path) -> None:  # walk 39A: the first ratings file was read, titles from the other release
        import zipfile

        rows = "userId,movieId,rating,timestamp\n" + "".join(f"{u},{i},4.0,{1000 + u * 50 + i}\n" for u in range(1, 8) for i in range(1, 9))
        with zipfile.ZipFile(tmp / "two.zip", "w") as zf:
            zf.writestr("ml-a/ratings.csv", rows)
            zf.writestr("ml-b/ratings.csv", rows)
            zf.writestr("ml-b/movies.csv", "movieId,title,genres\n" + "".join(f"{i},B movie {i},x\n" for i in range(1, 9)))
    add(Case("data", "a MovieLens zip holding two releases", lambda t: mmdistill(
        "run", "sequences-td3", *FAST_SEQUENCES[2:], "--dataset", "movielens", "--data-root", str(t / "two.zip"), "--out",
        str(t / "two-run")), two_releases))

    def lock_link(tmp: Path) -> None:  # walk 39A: a received folder's lock file linked to a file of the user's
        manifest_edit(tmp, lambda m: None, "locklink")
        (tmp / "victim.txt").write_text("the user's own file\n")
        os.symlink(tmp / "victim.txt", tmp / "locklink" / ".mmdistill.lock")
    add(Case("received", "a run folder whose lock file links to a file outside it", lambda t: mmdistill("check", str(t / "locklink")),
             lock_link, lambda t: "" if (t / "victim.txt").read_text() == "the user's own file\n" else "the linked file was overwritten"))
    add(Case("received", "manifest: a key given twice (json keeps the last)", lambda t: mmdistill(
        "show", str(t / "dupkey")), lambda t: manifest_edit(t, lambda m: None, "dupkey") or (t / "dupkey" / "manifest.json").write_text(
            (t / "dupkey" / "manifest.json").read_text()[:-1] + ', "dataset": "other"}')))
    # walk 48C: a set from a stranger crafted against its receiver
    add(Case("received", "manifest: escape sequences and a line break in its paper", lambda t: mmdistill("show", str(t / "esc")),
             lambda t: manifest_edit(t, lambda m: m.update(paper="\x1b]0;pwned\x07\x1b[2J", sample_noun="images\n  integrity: forged"), "esc")))
    def sparse_tensors(tmp: Path) -> None:  # a few KiB on disk, 1 TiB to safetensors
        manifest_edit(tmp, lambda m: None, "sparse")
        with open(tmp / "sparse" / "synthetic.safetensors", "r+b") as fh:
            fh.truncate(2 ** 40)
    add(Case("received", "a sparse tensor file claiming 1 TiB", lambda t: mmdistill("show", str(t / "sparse")), sparse_tensors))
    def big_manifest(tmp: Path) -> None:  # [{},{},...]: 21 MB took 466 MB to parse, so 70 MB 1.5 GB, 300 MB 6.6 GB
        manifest_edit(tmp, lambda m: None, "bigjson")
        text = (tmp / "bigjson" / "manifest.json").read_text()
        (tmp / "bigjson" / "manifest.json").write_text(text[:-1] + ', "junk": [' + ",".join(["{}"] * 23_500_000) + "]}")
    add(Case("received", "a 70 MB manifest", lambda t: mmdistill("show", str(t / "bigjson")), big_manifest))
    # 7. config files and resume on other data
    def yaml_files(tmp: Path) -> None:
        (tmp / "dup.yaml").write_text("ipc: 2\nipc: 3\n")
        (tmp / "latin.yaml").write_bytes(b"ipc: 2\n\xff\xfe bad\n")
    add(Case("values", "YAML config giving a key twice", lambda t: mmdistill("run", "image-dm", "--config", str(t / "dup.yaml"), *FAST_IMAGE,
                                                                           "--out", str(t / "dupy")), yaml_files))
    add(Case("values", "YAML config that is not UTF-8", lambda t: mmdistill("run", "image-dm", "--config", str(t / "latin.yaml"), *FAST_IMAGE,
                                                                          "--out", str(t / "latin")), yaml_files))

    def interrupted_then_changed(tmp: Path) -> None:
        from PIL import Image

        data = tmp / "resdata"
        for c, shade in (("a", 20), ("b", 90), ("c", 160)):
            (data / c).mkdir(parents=True, exist_ok=True)
            for i in range(4):
                Image.new("L", (8, 8), shade + 10 * i).save(data / c / f"{i}.png")
        code, err = _run(mmdistill("run", "image-dm", "--dataset", "imagefolder", "--data-root", str(data), "--ipc", "1",
                                   "iterations=4", "checkpoint_every=1", "--no-evaluate", "--no-progress", "--out", str(tmp / "res")))
        assert code == 0, err
        (tmp / "res" / "manifest.json").unlink()  # as a run killed after its last checkpoint
        Image.new("L", (8, 8), 250).save(data / "c" / "9.png")  # an image added to a class
    add(Case("nothing lost", "--resume on changed training data", lambda t: mmdistill(
        "run", "image-dm", "--dataset", "imagefolder", "--data-root", str(t / "resdata"), "--ipc", "1", "iterations=6",
        "checkpoint_every=1", "--no-evaluate", "--no-progress", "--out", str(t / "res"), "--resume"), interrupted_then_changed,
        lambda t: "" if (t / "res" / "checkpoint.safetensors").exists() and not (t / "res" / "manifest.json").exists() else "run finished on mixed data"))
    # 8. session 35: keys that would do nothing, a run's folder taken for a buffer
    add(Case("values", "eval given a run's key (iterations=)", lambda t: mmdistill(
        "eval", str(_finished_set(t)), "--runs", "1", "--epochs", "1", "iterations=3")))
    add(Case("values", "cache clear of a cache that does not exist", lambda t: mmdistill("cache", "clear", "clips")))

    def run_as_buffer(tmp: Path) -> None:
        _finished_set(tmp, "runbuf")
    add(Case("nothing lost", "--buffer naming a run's folder", lambda t: mmdistill(
        "run", "image-mtt", *[a for a in FAST_IMAGE if a != "batch_real=8"], "num_experts=1", "expert_train_epochs=2", "max_start_epoch=1", "expert_epochs=1",
        "syn_steps=2", "--buffer", str(t / "runbuf"), "--out", str(t / "mttrun")), run_as_buffer,
        lambda t: "experts written into the run" if list((t / "runbuf").glob("expert_*")) or (t / "runbuf" / "index.json").exists() else ""))
    # 9. session 38: a stray quote in a CSV, a mistyped sequences dataset, a folder another process is writing
    def av_csv_with_a_stray_quote(tmp: Path) -> None:
        import numpy as np
        import soundfile as sf
        from PIL import Image

        root = tmp / "avq"
        root.mkdir(exist_ok=True)
        rows = ["image_path,audio_path,label,split"]
        for i in range(8):
            Image.new("L", (8, 8), 30 * i).save(root / f"i{i}.png")
            sf.write(root / f"a{i}.wav", (0.3 * np.sin(np.arange(2000) * (i % 2 + 1) / 10)).astype(np.float32), 8000)
            label = '"c1' if i == 2 else f"c{i % 2}"  # row 4: a quote opened and never closed
            rows.append(f"i{i}.png,a{i}.wav,{label},{'test' if i >= 6 else 'train'}")
        (root / "pairs.csv").write_text("\n".join(rows) + "\n")
    add(Case("data", "audio-visual CSV with an unclosed quote in a label", lambda t: mmdistill(
        "run", "audio-visual-dm", "--dataset", "csv", "--data-root", str(t / "avq" / "pairs.csv"), "--ipc", "1", "--budget", "cpu",
        "iterations=1", "--no-evaluate", "--no-progress", "--out", str(t / "avqrun")), av_csv_with_a_stray_quote))

    def interaction_log(tmp: Path) -> None:
        lines = [f"{u},{i},{1000 + 10 * u + k}" for u in range(12) for k, i in enumerate(range(u % 5, u % 5 + 6))]
        (tmp / "log.csv").write_text("user,item,timestamp\n" + "\n".join(lines) + "\n")
    add(Case("values", "sequences: a mistyped dataset name (cvs)", lambda t: mmdistill(
        "run", "sequences-td3", *[a if a != "generated:40:40" else "cvs" for a in FAST_SEQUENCES], "--data-root", str(t / "log.csv"),
        "--out", str(t / "seqcvs")), interaction_log))

    holder: dict[str, subprocess.Popen] = {}

    def a_run_still_writing(tmp: Path) -> None:
        done = _finished_set(tmp, "busy")
        holder["p"] = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                                        "from mmdistill.run_lock import RunFolderLock; RunFolderLock(Path(sys.argv[1]), "
                                        "'a run still writing').acquire(); print('held', flush=True); time.sleep(600)", str(done)],
                                       stdout=subprocess.PIPE, text=True)
        holder["p"].stdout.readline()

    def still_there(tmp: Path) -> str:
        holder["p"].kill()
        holder["p"].wait()
        return "" if (tmp / "busy" / "synthetic.safetensors").exists() else "the running run's set deleted"
    add(Case("nothing lost", "--overwrite into a folder another process is writing", lambda t: mmdistill(
        "run", "image-dm", *FAST_IMAGE, "--out", str(t / "busy"), "--overwrite"), a_run_still_writing, still_there))

    # 10. session 40: one class name spelled two ways, one clip folder under two classes
    def graph_two_spellings(tmp: Path) -> None:
        from mmdistill.modalities.graph.datasets import make_sbm
        from mmdistill.modalities.graph.export import save_graph_data

        raw = make_sbm(90, 3, 5, seed=2)
        folder = save_graph_data(tmp / "nfd", x=raw["x"], edge_index=raw["edge_index"], y=raw["y"],
                                 masks={s: raw[f"{s}_mask"] for s in ("train", "val", "test")})
        meta = json.loads((folder / "graph.json").read_text())
        (folder / "graph.json").write_text(json.dumps({**meta, "classes": ["caf\u00e9", "b", "cafe\u0301"]}))
    add(Case("data", "graph: one class name in two Unicode forms (NFC / NFD)", lambda t: mmdistill(
        "run", "graph-gcond", *FAST_GRAPH[2:], "--dataset", "saved", "--data-root", str(t / "nfd"), "--out", str(t / "nfdrun")),
        graph_two_spellings))

    def frames_linked_into_two_classes(tmp: Path) -> None:
        from PIL import Image

        for c in ("a", "b"):
            for k in range(3):
                clip = tmp / "frames" / c / f"clip{k}"
                clip.mkdir(parents=True, exist_ok=True)
                for f in range(4):
                    Image.new("RGB", (8, 8), (40 * k + 10 * f, 90 if c == "a" else 200, 0)).save(clip / f"img_{f:05d}.jpg")
        os.symlink(tmp / "frames" / "a" / "clip0", tmp / "frames" / "b" / "clipX")
    add(Case("data", "video frames: one clip folder linked into two classes", lambda t: mmdistill(
        "run", "video-dm", "--dataset", "frames", "--data-root", str(t / "frames"), "--ipc", "1", "--budget", "cpu", "num_frames=4",
        "frame_size=8", "iterations=1", "--no-evaluate", "--no-progress", "--out", str(t / "framesrun")), frames_linked_into_two_classes))

    # 11. session 42 (walk 42B): valid-looking files that were read wrong without a word
    def caption_csv_with_an_unquoted_comma(tmp: Path) -> None:
        from PIL import Image

        (tmp / "caps").mkdir()
        rows = ["image,caption,split"]
        for k in range(10):
            Image.new("RGB", (8, 8), (25 * k, 0, 0)).save(tmp / "caps" / f"im{k}.png")
            rows.append(f"im{k}.png,a red square {k},{'test' if k >= 8 else 'train'}")
        rows[2] = "im1.png,a dog, test,train"  # a training image that the cut would have put in the test split
        (tmp / "caps" / "captions.csv").write_text("\n".join(rows) + "\n")
    add(Case("data", "image-text: caption CSV row with an unquoted comma", lambda t: mmdistill(
        "run", "image-text-lors", *FAST_TEXT[2:], "--dataset", "csv", "--data-root", str(t / "caps" / "captions.csv"), "image_size=16",
        "--out", str(t / "capsrun")), caption_csv_with_an_unquoted_comma))

    def frames_stored_twice(tmp: Path) -> None:
        from PIL import Image

        for c in ("a", "b"):
            for k in range(2):
                clip = tmp / "twice" / c / f"clip{k}"
                clip.mkdir(parents=True, exist_ok=True)
                for f in range(1, 5):
                    for name in (f"img_{f:05d}.jpg", f"img_{f:05d}.png"):  # a second extraction into the same folder
                        Image.new("RGB", (8, 8), (40 * k + 10 * f, 90 if c == "a" else 200, 0)).save(clip / name)
    add(Case("data", "video frames: each frame stored as .jpg and .png", lambda t: mmdistill(
        "run", "video-dm", "--dataset", "frames", "--data-root", str(t / "twice"), "--ipc", "1", "--budget", "cpu", "num_frames=4",
        "frame_size=8", "iterations=1", "--no-evaluate", "--no-progress", "--out", str(t / "twicerun")), frames_stored_twice))

    def joined_mp3(tmp: Path) -> None:
        import io

        import numpy as np
        import soundfile as sf

        for c, hz in (("low", 300), ("high", 1200)):
            (tmp / "mp3" / c).mkdir(parents=True)
            for k in range(3):
                buf = io.BytesIO()
                sf.write(buf, (0.4 * np.sin(2 * np.pi * hz * np.arange(8000) / 8000)).astype(np.float32), 8000, format="MP3")
                (tmp / "mp3" / c / f"c{k}.mp3").write_bytes(buf.getvalue() * (2 if (c, k) == ("low", 0) else 1))  # joined with cat
    add(Case("data", "audio: two MP3 files joined with cat (--strict)", lambda t: mmdistill(
        "run", "audio-dm", *FAST_AUDIO, "--dataset", "folder", "--data-root", str(t / "mp3"), "--strict", "--out", str(t / "mp3run")),
        joined_mp3))

    # 10. walk 49A: the files a run reads back to continue: a received checkpoint, a buffer received while it was trained
    def crafted_checkpoint(tmp: Path, name: str, edit: Callable[[dict, dict], None]) -> None:
        from safetensors import safe_open
        from safetensors.torch import load_file, save_file

        src = _finished_set(tmp) / "checkpoint.safetensors"
        (tmp / name).mkdir(exist_ok=True)
        tensors = load_file(str(src))
        with safe_open(str(src), "pt") as fh:
            meta = dict(fh.metadata())
        info = json.loads(meta["optimizer"])
        edit(tensors, info)
        save_file(tensors, str(tmp / name / "checkpoint.safetensors"), metadata={**meta, "optimizer": json.dumps(info)})
    resume5 = [a if a != "iterations=3" else "iterations=5" for a in FAST_IMAGE]
    for name, what, edit in (
            ("cknan", "a received checkpoint with a NaN momentum + --resume",
             lambda t, i: t["opt.0.momentum_buffer"].view(-1)[0].fill_(float("nan"))),
            ("ckmom", "a received checkpoint whose momentum is a scalar + --resume",
             lambda t, i: t.update({"opt.0.momentum_buffer": __import__("torch").tensor(3.0)}))):
        add(Case("received", what, lambda t, n=name: mmdistill("run", "image-dm", *resume5, "--out", str(t / n), "--resume"),
                 lambda t, n=name, e=edit: crafted_checkpoint(t, n, e),
                 lambda t, n=name: "" if (t / n / "checkpoint.safetensors").exists() and not (t / n / "manifest.json").exists()
                 else "checkpoint replaced or run finished"))

    def partial_expert_without_trajectory(tmp: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import save_file

        code, err = _run(mmdistill("experts", "image-mtt", *FAST_EXPERTS, "--buffer", str(tmp / "pbuf")))
        assert code == 0, err
        with safe_open(str(tmp / "pbuf" / "expert_0001.safetensors"), "pt") as fh:
            meta = dict(fh.metadata())
        (tmp / "pbuf" / "expert_0001.safetensors").unlink()
        (tmp / "pbuf" / "index.json").unlink()  # expert 1 was still training when the folder was shared
        save_file({"weights": __import__("torch").zeros(2)}, str(tmp / "pbuf" / "expert_0001.partial.safetensors"),
                  metadata={**meta, "format": meta["format"] + "+partial", "scores": "[]"})
    add(Case("received", "a buffer's partial expert without a trajectory", lambda t: mmdistill(
        "experts", "image-mtt", *FAST_EXPERTS, "--buffer", str(t / "pbuf")), partial_expert_without_trajectory,
        lambda t: "" if (t / "pbuf" / "expert_0001.partial.safetensors").exists() and not (t / "pbuf" / "index.json").exists()
        else "partial expert replaced or buffer finished"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="the JSON table (default: benchmarks/results/bad_inputs.json for a run of "
                        "every case; a run with --only writes only where --out says, never over the recorded table)")
    parser.add_argument("--only", default="", help="comma-separated words; run the cases whose name holds one")
    args = parser.parse_args(argv)
    words = [w for w in args.only.split(",") if w]
    if args.out is None and not words:
        args.out = str(result_path("bad_inputs"))  # beside the recorded table if one is there
    rows = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for case in cases():
            if words and not any(w in case.name for w in words):
                continue
            case.setup(tmp)
            t0 = time.perf_counter()
            code, err = _run(case.argv(tmp))
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            message = next((ln for ln in lines if ln.startswith("error:")), lines[-1] if lines else "")
            lost = case.check(tmp) or ""
            rows.append({"group": case.group, "case": case.name, "exit": code, "message": message[:200],
                         "traceback": "Traceback (most recent call last)" in err, "lost": lost,
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{case.group:<13} {case.name:<48} {code:>4}  {'TRACEBACK ' if rows[-1]['traceback'] else ''}{lost}{message[:110]}",
                  flush=True)
    tracebacks = sum(r["traceback"] for r in rows)
    lost = sum(bool(r["lost"]) for r in rows)
    accepted = sum(r["exit"] == 0 for r in rows)
    print(f"\n{len(rows)} cases: {tracebacks} tracebacks shown, {lost} runs lost or replaced, {accepted} accepted (exit 0)")
    if args.out is None:
        print("(--only without --out: the table is not written)")
        return 0
    out = write_json(args.out, {"machine": machine(), "cases": rows, "tracebacks": tracebacks, "lost": lost, "accepted": accepted})
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
