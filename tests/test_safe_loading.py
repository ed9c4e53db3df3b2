"""No code runs from a data folder: pickle-based inputs (Planetoid raw files, PyG caches, CIFAR batches) pass
a restricted unpickler (payload files are refused and never run), PyG's processed caches live under MMDISTILL_CACHE
and load weights-only, the data folder is never written. Every folder is generated in tmp_path; the comparison
with PyG on the real Cora files runs only when ../shared holds them."""

from __future__ import annotations

import collections
import io
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")
sp = pytest.importorskip("scipy.sparse")

from mmdistill.errors import DataError  # noqa: E402
from mmdistill.modalities.graph.datasets import load_graph_dataset  # noqa: E402
from mmdistill.modalities.graph.planetoid import PICKLED, RAW_SUFFIXES, read_planetoid  # noqa: E402
from mmdistill.modalities.safe_pickle import guarded_loading  # noqa: E402
from mmdistill.recipes import graph_gcond  # noqa: E402

SHARED_PLANETOID = Path(__file__).resolve().parents[2] / "shared" / "data" / "planetoid"
KEYS = ("x", "edge_index", "y", "train_mask", "val_mask", "test_mask")


class Payload:
    """Unpickling it writes ``marker`` (what a crafted data file would do with os.system)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """MMDISTILL_CACHE in tmp_path: the tests never touch ~/.cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("MMDISTILL_CACHE", str(path))
    return path


def write_planetoid(root: Path, key: str = "cora", pname: str = "Cora", *, classes: int = 3, feats: int = 12,
                    train: int = 30, extra: int = 30, test: int = 60, gaps: int = 0, seed: int = 0) -> Path:
    """A Planetoid-format folder ``root/<pname>/raw`` like the real files: scipy CSR features and one-hot
    numpy labels pickled with protocol 2, a defaultdict of neighbour lists, a shuffled test index. ``gaps``
    test ids are left out (CiteSeer's isolated test nodes); the graph has a self-loop and a duplicate edge."""
    rng = np.random.default_rng(seed)
    n_all = train + 500 + extra
    n = n_all + test + gaps
    y = np.eye(classes, dtype=np.int32)[np.arange(n) % classes]
    x = (rng.random((n, feats)) < 0.3).astype(np.float32)
    test_ids = np.arange(n_all, n)
    if gaps:
        test_ids = np.delete(test_ids, rng.choice(np.arange(1, test_ids.size - 1), gaps, replace=False))
    graph: collections.defaultdict = collections.defaultdict(list)
    for u, v in rng.integers(0, n, (3 * n, 2)).tolist():
        graph[u].append(v)
        graph[v].append(u)
    graph[0] += [0, 1, 1]
    graph[1].append(0)
    order = rng.permutation(test_ids)  # tx rows follow the file's (shuffled) order of test ids
    rows = {"x": x[:train], "allx": x[:n_all], "tx": x[order], "y": y[:train], "ally": y[:n_all], "ty": y[order]}
    raw = root / pname / "raw"
    raw.mkdir(parents=True)
    for s, arr in rows.items():
        obj = sp.csr_matrix(arr) if s in ("x", "allx", "tx") else arr
        (raw / f"ind.{key}.{s}").write_bytes(pickle.dumps(obj, protocol=2))
    (raw / f"ind.{key}.graph").write_bytes(pickle.dumps(graph, protocol=2))
    (raw / f"ind.{key}.test.index").write_text("".join(f"{i}\n" for i in order))
    return root


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _assert_same_as_pyg(ours: dict, root: Path, pname: str) -> None:
    from torch_geometric.datasets import Planetoid

    ref = Planetoid(str(root), pname)[0]
    for k in KEYS:
        assert torch.equal(ours[k], getattr(ref, k)), k


# ------------------------------------------------------------------------------------------------ reader
@pytest.mark.parametrize("key,pname,gaps", [("cora", "Cora", 0), ("citeseer", "CiteSeer", 3)])
def test_restricted_reader_gives_pygs_tensors(tmp_path, key, pname, gaps):
    mine = write_planetoid(tmp_path / "mine", key, pname, gaps=gaps)
    ours = read_planetoid(mine / pname / "raw", key)
    assert ours["x"].shape == (620 + gaps, 12) and int(ours["test_mask"].sum()) == 60
    pyg = tmp_path / "pyg"
    shutil.copytree(mine, pyg)
    _assert_same_as_pyg(ours, pyg, pname)


@pytest.mark.skipif(not (SHARED_PLANETOID / "Cora" / "raw").is_dir(), reason="no ../shared Planetoid files")
def test_real_cora_matches_pyg_planetoid(tmp_path):
    copy = tmp_path / "planetoid"
    shutil.copytree(SHARED_PLANETOID, copy)
    ours = read_planetoid(copy / "Cora" / "raw", "cora")
    assert ours["x"].shape == (2708, 1433) and ours["edge_index"].shape == (2, 10556)
    _assert_same_as_pyg(ours, copy, "Cora")


def test_generated_cora_runs_graph_gcond_and_leaves_the_folder_alone(tmp_path, cache):
    root = write_planetoid(tmp_path / "data")
    before = _snapshot(root)
    data = load_graph_dataset("cora", str(root))
    assert (data.num_nodes, data.num_classes, data.train_idx.numel(), data.val_idx.numel()) == (620, 3, 30, 500)
    res = graph_gcond.run(dataset="cora", data_root=str(root), ipc=3, iterations=2, outer_loop=2, inner_loop=1,
                          structure_period=2, structure_steps=1, hidden=16, pge_hidden=8, progress=False,
                          evaluate=False, out=str(tmp_path / "run"))
    assert res.synthetic.data["x"].shape == (9, 12)
    assert _snapshot(root) == before and not cache.exists()  # read in place, nothing cached or written


# ------------------------------------------------------------------------------------------------ payloads
@pytest.mark.parametrize("suffix", RAW_SUFFIXES)
def test_payload_in_any_raw_file_is_refused(tmp_path, suffix):
    root = write_planetoid(tmp_path / "data")
    marker = tmp_path / "pwned"
    target = root / "Cora" / "raw" / f"ind.cora.{suffix}"
    payload = collections.defaultdict(list, {0: [1], 1: Payload(marker)}) if suffix == "graph" else Payload(marker)
    target.write_bytes(pickle.dumps(payload, protocol=2))
    expected = "refers to builtins.exec; only scipy sparse" if suffix in PICKLED else "one integer node id per line"
    with pytest.raises(DataError, match=rf"ind\.cora\.{suffix}.*{expected}"):
        load_graph_dataset("cora", str(root))
    assert not marker.exists()


@pytest.mark.parametrize("suffix", ["x", "ally", "graph"])
def test_truncated_raw_file_is_a_named_data_error(tmp_path, suffix):
    root = write_planetoid(tmp_path / "data")
    target = root / "Cora" / "raw" / f"ind.cora.{suffix}"
    target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(DataError, match=rf"ind\.cora\.{suffix}: not a readable pickle \(truncated or corrupt"):
        load_graph_dataset("cora", str(root))


def test_pyg_loader_reads_raw_pickles_through_the_guard(tmp_path, cache):
    root = write_planetoid(tmp_path / "data")
    marker = tmp_path / "pwned"
    (root / "Cora" / "raw" / "ind.cora.ty").write_bytes(pickle.dumps(Payload(marker), protocol=2))
    with pytest.raises(DataError, match=r"pyg:Planetoid/Cora: .*ind\.cora\.ty: refers to builtins\.exec"):
        load_graph_dataset("pyg:Planetoid/Cora", str(root))
    assert not marker.exists()
    assert not list((cache / "graph").iterdir())  # the half-built cache folder is gone


def test_processed_caches_live_in_our_cache_and_load_weights_only(tmp_path, cache):
    root = write_planetoid(tmp_path / "data")
    marker = tmp_path / "pwned"
    planted = root / "Cora" / "processed" / "data.pt"  # a crafted PyG cache in the data folder: never read
    planted.parent.mkdir()
    torch.save(Payload(marker), planted)
    before = _snapshot(root)
    data = load_graph_dataset("pyg:Planetoid/Cora", str(root))
    assert data.num_nodes == 620 and not marker.exists() and _snapshot(root) == before
    entries = list((cache / "graph").iterdir())
    assert len(entries) == 1 and ".partial-" not in entries[0].name
    ours = entries[0] / "Cora" / "processed" / "data.pt"
    assert ours.is_file() and (entries[0] / "Cora" / "raw" / "ind.cora.x").is_symlink()
    again = load_graph_dataset("pyg:Planetoid/Cora", str(root))  # the cache is reused, weights-only
    assert torch.equal(again.graph.edge_index, data.graph.edge_index)
    torch.save(Payload(marker), ours)  # someone tampers with our cache
    with pytest.raises(DataError, match=r"processed/data\.pt: not loaded .*weights_only=True"):
        load_graph_dataset("pyg:Planetoid/Cora", str(root))
    assert not marker.exists() and _snapshot(root) == before


def test_a_damaged_processed_cache_is_built_again_with_a_warning(tmp_path, cache, caplog):
    """Walk 49A: a processed file of our PyG cache cut short (a full disk, a copied cache) failed every later load with
    'could not load from <data_root> (RuntimeError: PytorchStreamReader failed ...); offline runs need the dataset's
    files there', blaming the user's intact folder, and nothing rebuilt it. A reused entry that does not load is built
    again once, with a warning naming the entry."""
    root = write_planetoid(tmp_path / "data")
    data = load_graph_dataset("pyg:Planetoid/Cora", str(root))
    (entry,) = (cache / "graph").iterdir()
    ours = entry / "Cora" / "processed" / "data.pt"
    ours.write_bytes(ours.read_bytes()[:1000])  # (bytes that are no pickle at all: the test below)
    with caplog.at_level("WARNING"):
        again = load_graph_dataset("pyg:Planetoid/Cora", str(root))
    assert torch.equal(again.graph.edge_index, data.graph.edge_index)
    assert f"the cache entry {entry} does not load" in caplog.text and "building it again" in caplog.text
    assert [p.name for p in (cache / "graph").iterdir()] == [entry.name] and ours.stat().st_size > 1000


def test_a_processed_cache_of_garbage_bytes_is_damage_built_again_not_a_refused_pickle(tmp_path, cache, caplog):
    """A processed file of our PyG cache overwritten with bytes that are no pickle at all was reported as a refused
    pickle ("not loaded — .pt files are read with torch.load(weights_only=True) only ... (WeightsUnpickler error:)"),
    as if someone had planted code, and nothing rebuilt it (left noted in session 49). Bytes that name no global are a
    damaged file: the entry is built again with a warning saying so; a planted global stays a refusal (test above)."""
    root = write_planetoid(tmp_path / "data")
    data = load_graph_dataset("pyg:Planetoid/Cora", str(root))
    (entry,) = (cache / "graph").iterdir()
    ours = entry / "Cora" / "processed" / "data.pt"
    ours.write_bytes(b"garbage bytes, no pickle \x00\x01" * 20)
    with caplog.at_level("WARNING"):
        again = load_graph_dataset("pyg:Planetoid/Cora", str(root))
    assert torch.equal(again.graph.edge_index, data.graph.edge_index)
    assert f"the cache entry {entry} does not load" in caplog.text and "not a readable torch file (truncated or corrupt: " \
        "Unsupported operand" in caplog.text and "weights_only" not in caplog.text


def test_a_pt_file_of_garbage_under_the_guard_is_named_unreadable_not_refused(tmp_path):
    from mmdistill.modalities.safe_pickle import UnreadableFile

    bad = tmp_path / "x.pt"
    bad.write_bytes(bytes(range(256)) * 4)
    with guarded_loading(), pytest.raises(UnreadableFile, match=r"x\.pt: not a readable torch file \(truncated or corrupt: "):
        torch.load(bad)


def test_a_cache_entry_that_is_a_link_is_not_mirrored_into(tmp_path, cache, caplog):
    """Walk 49A: a PyG cache entry that was a link to another folder was used as the entry, and mirroring the data
    folder into it replaced that folder's files of the same names by links (a user's file there was lost). The link is
    removed, with a warning, and the entry built again; the folder it named is untouched."""
    root = write_planetoid(tmp_path / "data")
    load_graph_dataset("pyg:Planetoid/Cora", str(root))
    (entry,) = (cache / "graph").iterdir()
    theirs = tmp_path / "theirs"
    entry.rename(theirs)
    (theirs / "Cora" / "raw" / "ind.cora.x").unlink()
    (theirs / "Cora" / "raw" / "ind.cora.x").write_text("mine")
    entry.symlink_to(theirs)
    with caplog.at_level("WARNING"):
        data = load_graph_dataset("pyg:Planetoid/Cora", str(root))
    assert data.num_nodes == 620 and f"the cache entry {entry} is a link" in caplog.text
    assert (theirs / "Cora" / "raw" / "ind.cora.x").read_text() == "mine" and entry.is_dir() and not entry.is_symlink()


def test_guard_covers_numpy_and_torch_loads_and_is_undone(tmp_path):
    marker = tmp_path / "pwned"
    evil_npy = tmp_path / "evil.npy"
    np.save(evil_npy, np.array([Payload(marker)], dtype=object), allow_pickle=True)
    evil_pt = tmp_path / "evil.pt"
    torch.save(Payload(marker), evil_pt)
    load, env = pickle.load, os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD")
    find_class = pickle._Unpickler.find_class
    for call, msg in ((lambda: np.load(evil_npy, allow_pickle=True), r"evil\.npy: refers to builtins\.exec"),
                      (lambda: torch.load(evil_pt, weights_only=False), r"evil\.pt: not loaded"),
                      (lambda: pickle.loads(pickle.dumps(Payload(marker))), "in memory: refers to builtins.exec")):
        with pytest.raises(DataError, match=msg), guarded_loading():  # a refusal leaves the guard as a DataError
            call()
    with guarded_loading():
        ok = tmp_path / "ok.pt"
        torch.save({"w": torch.ones(2)}, ok)
        assert torch.equal(torch.load(ok)["w"], torch.ones(2))
    assert not marker.exists()
    assert pickle.load is load and os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") == env
    assert pickle._Unpickler.find_class is find_class


def test_a_library_that_retries_with_its_own_unpickler_cannot_run_a_payload(tmp_path):
    """pandas.read_pickle catches the first reader's ValueError (the refusal was a DataError, a ValueError) and
    unpickles again with its own pure-Python unpickler (a subclass of pickle._Unpickler): the payload ran although
    "refused to unpickle" was logged (a PyG dataset class reads its raw files with pandas). Now the refusal is not an
    Exception and the pure-Python unpickler's find_class is restricted too."""
    pd = pytest.importorskip("pandas")
    marker = tmp_path / "pwned"
    evil = tmp_path / "train.pkl"
    evil.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(DataError, match="refers to builtins.exec"), guarded_loading():
        try:
            pd.read_pickle(evil)
        except Exception:  # what a library's own fallback would do: it must not reach this
            pytest.fail("the refusal was caught as an Exception")
    assert not marker.exists()

    class OwnReader(pickle._Unpickler):  # joblib's and pandas' readers are such subclasses
        pass

    with pytest.raises(DataError, match=r"OwnReader: refers to builtins\.exec"), guarded_loading():
        OwnReader(io.BytesIO(pickle.dumps(Payload(marker)))).load()
    assert not marker.exists()
    assert OwnReader(io.BytesIO(pickle.dumps({"a": [1]}))).load() == {"a": [1]}  # outside the guard: pickle as ever



def test_guarded_loads_name_a_truncated_pickle_and_never_advise_unpickling(tmp_path):
    truncated = tmp_path / "cut.pkl"
    truncated.write_bytes(pickle.dumps({"a": [1, 2, 3]})[:-5])
    evil_pt = tmp_path / "evil.pt"
    torch.save(Payload(tmp_path / "pwned"), evil_pt)
    with guarded_loading():
        with open(truncated, "rb") as fh, pytest.raises(DataError, match=r"cut\.pkl: not a readable pickle \(truncated"):
            pickle.load(fh)
        with pytest.raises(DataError, match="in memory: not a readable pickle"):
            pickle.loads(pickle.dumps([1, 2])[:-3])
        with pytest.raises(DataError) as refused:
            torch.load(evil_pt)
    assert "weights_only=False" not in str(refused.value) and "Unsupported global" in str(refused.value)
    assert not (tmp_path / "pwned").exists()

def test_cache_location_and_key(tmp_path, monkeypatch):
    from mmdistill.cache_dir import cache_root
    from mmdistill.modalities.graph.pyg_cache import input_digest, input_files
    from mmdistill.modalities.image_text.text_cache import default_cache_dir as text_cache
    from mmdistill.modalities.video.datasets import default_cache_dir as video_cache

    assert cache_root() == tmp_path / "cache"
    monkeypatch.delenv("MMDISTILL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mmdistill"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "mmdistill"
    # one rule for every cache; an empty variable is unset (before: video's cache went to ./video, text's ignored XDG)
    monkeypatch.setenv("MMDISTILL_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert (video_cache(), text_cache()) == (tmp_path / "xdg" / "mmdistill" / "video", tmp_path / "xdg" / "mmdistill" / "text")
    root = write_planetoid(tmp_path / "data")
    key = input_digest(root, "pyg:Planetoid/Cora", input_files(root))
    (root / "Cora" / "processed").mkdir()
    (root / "Cora" / "processed" / "data.pt").write_bytes(b"ignored")
    assert input_files(root) == sorted(Path("Cora/raw") / f"ind.cora.{s}" for s in RAW_SUFFIXES)
    assert input_digest(root, "pyg:Planetoid/Cora", input_files(root)) == key
    assert input_digest(root, "pyg:CitationFull/Cora", input_files(root)) != key
    (root / "Cora" / "raw" / "ind.cora.test.index").write_text("600\n")
    assert input_digest(root, "pyg:Planetoid/Cora", input_files(root)) != key


# ----------------------------------------------------------------------------------------- other loaders
class _Payload:
    """A pickled object whose loading would create ``marker`` (it must never run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_cifar_batch_with_a_payload_is_refused_and_never_runs(tmp_path):
    """torchvision's CIFAR-10 reads its batches with pickle: under mmdistill they pass the restricted reader."""
    pytest.importorskip("torchvision")
    import pickle

    import numpy as np

    from mmdistill.errors import DataError
    from mmdistill.modalities.image.datasets import load_image_dataset

    root = tmp_path / "cifar"
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    marker = tmp_path / "ran"
    good = {"batch_label": "x", "labels": [0, 1], "data": np.zeros((2, 3072), np.uint8), "filenames": ["a", "b"]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(good, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": ["a", "b"]}, protocol=2))
    (folder / "data_batch_3").write_bytes(pickle.dumps({"data": _Payload(marker), "labels": [0]}, protocol=2))
    # torchvision checks the files' md5 before reading them; skip that check so the payload is actually read
    import torchvision.datasets.cifar as tv_cifar

    original = tv_cifar.CIFAR10._check_integrity
    tv_cifar.CIFAR10._check_integrity = lambda self: True
    try:
        with pytest.raises(DataError, match="data_batch_3|builtins"):
            load_image_dataset("cifar10", root)
    finally:
        tv_cifar.CIFAR10._check_integrity = original
    assert not marker.exists()
