"""MTT's ImageNet subsets imported with their classes where mmdistill puts them (mmdistill.reference_subsets): MTT labels a
subset's class by its place in utils.py's Config list, mmdistill by sorted (wnid) folder name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import mmdistill
from mmdistill.buffer import ExpertBuffer, ParamLayout
from mmdistill.cli import main
from mmdistill.errors import ConfigError
from mmdistill.reference import class_rows, expert_rows
from mmdistill.reference_subsets import MTT_SUBSETS, class_order, ranks, stated_subset, subset_in_path

IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])  # MTT's utils.py:91-92


def _grey(index: int) -> float:
    """The grey level of ImageNet class ``index``'s photos in the generated tree: tells a class from its pixels."""
    return 0.05 + 0.9 * index / 1000


def _tree(root: Path, indices, names=None) -> Path:
    """A subset's ImageFolder: one folder per class, named by a wnid-like id that sorts as the ImageNet index does (so the
    sorted folders are ImageNet's class order, as the real wnids are), 3 flat grey 8x8 photos each."""
    for i, idx in enumerate(indices):
        folder = root / (names[i] if names else f"n{idx:08d}")
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(3):
            Image.fromarray(np.full((8, 8, 3), round(255 * _grey(idx)), dtype=np.uint8)).save(folder / f"{k}.png")
    return root


def _mtt_set(run: Path, indices) -> Path:
    """distill.py's save of an IPC-1 set of the subset ``indices``: image j (of MTT's label j) the grey of class
    ``indices[j]``, normalised with ImageNet's statistics; labels [0, 1, ..., 9]."""
    run.mkdir(parents=True)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET)
    grey = torch.tensor([_grey(i) for i in indices]).view(-1, 1, 1, 1).expand(-1, 3, 8, 8)
    torch.save(((grey - mean) / std).cpu(), run / "images_best.pt")
    torch.save(torch.arange(len(indices)).cpu(), run / "labels_best.pt")
    return run / "images_best.pt"


def _import(tmp_path, tree: Path, images: Path, *extra: str) -> int:
    return main(["import", "image-mtt", str(images), "--dataset", "imagefolder", "--data-root", str(tree), "--image-size", "8",
                 "--out", str(tmp_path / "out"), "evaluate=false", "--no-progress", *extra])


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("error: ")][-1]


def test_ranks_put_mtts_label_at_its_sorted_place():
    assert ranks(MTT_SUBSETS["imagenette"]).tolist() == list(range(10))  # ascending: nothing moves
    woof = MTT_SUBSETS["imagewoof"]  # (193, 182, 258, 162, 155, 167, 159, 273, 207, 229)
    assert ranks(woof).tolist() == [5, 4, 8, 2, 0, 3, 1, 9, 6, 7]
    assert [sorted(woof)[r] for r in ranks(woof).tolist()] == list(woof)


@pytest.mark.parametrize("subset", ["imagewoof", "imagesquawk", "imagenette"])
def test_an_imagenet_subset_set_imports_each_image_under_its_own_folder(tmp_path, capsys, subset):
    indices = MTT_SUBSETS[subset]
    tree = _tree(tmp_path / "tree", indices)
    assert _import(tmp_path, tree, _mtt_set(tmp_path / "logged_files" / "ImageNet" / "run", indices), "--subset", subset,
                   "--zca", "no") == 0
    ds = mmdistill.load(tmp_path / "out")
    mean, std = (torch.as_tensor(ds.normalization["x"][k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    pixels = ds.x * std + mean
    folders = sorted(p.name for p in tree.iterdir())
    assert ds.labels.tolist() == list(range(10))
    for k in range(10):  # mmdistill's class k is folder k; its image must be that class's grey (MTT's stats undone)
        assert ds.manifest["synthetic"]["meta"]["classes"][k] == folders[k]
        assert pixels[k].mean().item() == pytest.approx(_grey(int(folders[k][1:])), abs=1e-4)
    assert ds.manifest["imported_from"]["subset"] == subset


def test_a_ten_class_imagefolder_import_without_subset_is_refused_naming_it(tmp_path, capsys):
    indices = MTT_SUBSETS["imagewoof"]
    tree = _tree(tmp_path / "tree", indices)
    images = _mtt_set(tmp_path / "logged_files" / "ImageNet" / "run", indices)
    assert _import(tmp_path, tree, images, "--stats", "unit") != 0
    assert "not by sorted folder name, and its set files do not say which subset: pass --subset NAME (imagenette, imagewoof" in _error(capsys)
    assert _import(tmp_path, tree, images, "--subset", "imagewoof") != 0  # MTT's ImageNet path also takes --zca
    assert "MTT distils ImageNet subsets with or without ZCA whitening (--zca)" in _error(capsys)
    assert _import(tmp_path, tree, images, "--subset", "sorted", "--stats", "unit") == 0  # a fork's ImageFolder: as before


def test_a_subset_over_folders_not_named_by_wnid_or_of_another_size_is_refused(tmp_path):
    woof = MTT_SUBSETS["imagewoof"]
    with pytest.raises(ConfigError, match=r"folders must be named by ImageNet wnid .*'australian_terrier' is not one"):
        class_order("imagewoof", tmp_path / "images_best.pt", "imagefolder", ["australian_terrier", "beagle"] + [f"n{i:08d}" for i in range(8)])
    with pytest.raises(ConfigError, match=r"--subset imagewoof: 10 classes; the dataset holds 3"):
        class_order("imagewoof", tmp_path / "images_best.pt", "imagefolder", ["n1", "n2", "n3"])
    with pytest.raises(ConfigError, match=r"--subset 'imagecats': expected imagenette, .*; ten ImageNet class indices I1,...,I10 .*; or sorted"):
        class_order("imagecats", tmp_path / "images_best.pt", "imagefolder", [f"n{i:08d}" for i in range(10)])
    with pytest.raises(ConfigError, match=r"over --dataset imagefolder .* this import is over cifar10"):
        stated_subset("imagewoof", tmp_path / "images_best.pt", "cifar10")  # before the data is loaded
    own = ",".join(map(str, woof))  # a subset added to MTT's Config: its indices
    assert class_order(own, tmp_path / "x.pt", "imagefolder", sorted(f"n{i:08d}" for i in woof)).tolist() == ranks(woof).tolist()
    assert class_order(None, tmp_path / "x.pt", "imagefolder", ["a", "b", "c"]) is None  # not MTT's ten-class ImageNet path


def test_mtts_buffer_folder_names_the_subset_and_the_last_layers_rows_follow_the_classes(tmp_path):
    where = tmp_path / "buffers" / "ImageNet" / "imagewoof" / "128" / "ConvNetD5" / "replay_buffer_0.pt"
    assert subset_in_path(where) == "imagewoof" and subset_in_path(tmp_path / "CIFAR10" / "ConvNet" / "replay_buffer_0.pt") is None
    with pytest.raises(ConfigError, match=r"lies in MTT's folder of the imagewoof subset; leave --subset out"):
        stated_subset("imagemeow", where, "imagefolder")
    said = stated_subset(None, where, "imagefolder")  # the buffer's folder names it; class_order reads it resolved
    order = class_order(said, where, "imagefolder", sorted(f"n{i:08d}" for i in MTT_SUBSETS["imagewoof"]))
    names, shapes = ("features.0.weight", "classifier.weight", "classifier.bias"), ((4, 3), (10, 4), (10,))
    rows_of = class_rows(names, shapes, order)
    assert set(rows_of) == {1, 2}
    w = torch.arange(40.0).view(10, 4)  # MTT's row j: its class j
    epochs = [[torch.zeros(4, 3), w + e, torch.arange(10.0) + e] for e in range(2)]
    flat = expert_rows([epochs], shapes, where, rows_of)[0]
    bias = flat[0, -10:]
    assert bias[order].tolist() == list(range(10))  # mmdistill's row order[j] holds MTT's row j
    assert flat[0, 12:52].view(10, 4)[order].equal(w)


def test_an_imagenet_subset_buffer_converts_with_its_rows_moved(tmp_path):
    """buffer.py's ``ImageNet/<subset>/<res>/<model>`` folder says the subset; the converted experts' last layer has
    mmdistill's class k in row k. (The pixels are stated as the tree's own statistics, as a fork's would be: mmdistill
    normalises an imagefolder with statistics computed on it, MTT with ImageNet's.)"""
    from mmdistill.modalities.image.datasets import load_image_dataset
    from mmdistill.nets import build_network

    indices = MTT_SUBSETS["imagewoof"]
    tree = _tree(tmp_path / "tree", indices)
    real = load_image_dataset("imagefolder", tree, image_size=8)
    stats = f"{','.join(map(str, real.mean))}/{','.join(map(str, real.std))}"
    folder = tmp_path / "buffers" / "ImageNet" / "imagewoof" / "128" / "ConvNetD2"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    net = build_network("convnetd2", (3, 8, 8), 10)
    epochs = []
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(0.01 * torch.randn_like(p))
        epochs.append([p.detach().clone() for p in net.parameters()])
    torch.save([epochs], folder / "replay_buffer_0.pt")
    assert main(["import", "image-mtt", str(folder), "--dataset", "imagefolder", "--data-root", str(tree), "--image-size", "8",
                 "--network", "convnetd2", "--zca", "no", "--stats", stats, "--buffer", str(tmp_path / "buf"), "batch_train=8"]) == 0
    buffer = ExpertBuffer(tmp_path / "buf")
    order = ranks(indices)
    assert buffer.index["imported_from"]["mtt_label_to_class"] == order.tolist()
    mine = ParamLayout.of(net).unflatten(buffer.rows(0, [2])[0])
    theirs = dict(zip([n for n, _ in net.named_parameters()], epochs[2]))
    for name, value in theirs.items():
        if name.startswith("classifier"):
            assert torch.equal(mine[name][order], value)  # mmdistill's row order[j] is MTT's row j
        else:
            assert torch.equal(mine[name], value)


def test_subset_is_refused_for_a_dc_file(tmp_path, capsys):
    tree = _tree(tmp_path / "tree", MTT_SUBSETS["imagewoof"])
    torch.save({"data": [[torch.zeros(10, 3, 8, 8), torch.arange(10)]], "accs_all_exps": {}}, tmp_path / "res_DM_x.pt")
    assert main(["import", "image-dm", str(tmp_path / "res_DM_x.pt"), "--subset", "imagewoof", "--stats", "unit", "--dataset",
                 "imagefolder", "--data-root", str(tree), "--image-size", "8", "--out", str(tmp_path / "out"), "evaluate=false"]) != 0
    assert "--subset imagewoof: res_DM_x.pt is DatasetCondensation's, which distils no ImageNet subset" in _error(capsys)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("said", ["sorted", "Sorted", " SORTED "])
def test_subset_sorted_in_any_case_is_sorted_for_zca_stats_and_class_order(tmp_path, said):
    """--subset Sorted is --subset sorted everywhere (R4.4): class_order read it as sorted while --zca and --stats took it
    for an ImageNet subset (asking for --zca; MTT's ImageNet statistics)."""
    from mmdistill.reference import ImportOptions, mtt_whitened, pixel_stats
    from mmdistill.reference_subsets import is_subset

    where, wnids = tmp_path / "images_best.pt", [f"n{i:08d}" for i in range(10)]
    opts = ImportOptions(subset=said)
    assert not is_subset("imagefolder", said) and is_subset("imagefolder", " ImageWoof") and not is_subset("cifar10", "imagewoof")
    assert class_order(said, where, "imagefolder", wnids) is None
    assert mtt_whitened(opts, "mtt", "imagefolder", where) is False  # no --zca asked of a fork's ImageFolder
    with pytest.raises(ConfigError, match=r"normalises only .*an ImageNet subset \(--subset\).* --stats M1"):
        pixel_stats(opts, "mtt", "imagefolder", 3, where)


def test_classes_out_of_wnid_order_are_refused_naming_subset_not_a_stopiteration(tmp_path):
    """Every folder a wnid but the classes not in sorted order (R4.7): a ConfigError naming --subset, where the message's
    search for a folder that is not a wnid raised StopIteration."""
    wnids = sorted(f"n{i:08d}" for i in MTT_SUBSETS["imagewoof"])
    with pytest.raises(ConfigError, match=r"--subset imagewoof: the dataset numbers its classes n00000273, n00000258, .* not in sorted wnid order"):
        class_order("imagewoof", tmp_path / "images_best.pt", "imagefolder", wnids[::-1])


def test_a_mistyped_or_disagreeing_subset_is_refused_before_the_data_is_loaded(tmp_path, capsys, monkeypatch):
    """--subset is checked before load_data decodes the tree (R4.8): a mistyped name of a set's import, a subset the
    buffer's folder contradicts, and --subset over another dataset are named without loading anything."""
    import mmdistill.validation

    def no_load(*_a, **_k):
        raise AssertionError("the data was loaded before --subset was checked")

    monkeypatch.setattr(mmdistill.validation, "load_data", no_load)
    indices = MTT_SUBSETS["imagewoof"]
    tree = _tree(tmp_path / "tree", indices)
    images = _mtt_set(tmp_path / "logged_files" / "ImageNet" / "run", indices)
    assert _import(tmp_path, tree, images, "--subset", "imagecats", "--zca", "no") != 0
    assert "--subset 'imagecats': expected imagenette, imagewoof" in _error(capsys)
    folder = tmp_path / "buffers" / "ImageNet" / "imagewoof" / "128" / "ConvNetD2"
    folder.mkdir(parents=True)
    torch.save([[[torch.zeros(2)]]], folder / "replay_buffer_0.pt")
    common = ["--data-root", str(tree), "--image-size", "8", "--zca", "no", "--buffer", str(tmp_path / "buf")]
    assert main(["import", "image-mtt", str(folder), "--subset", "imagemeow", "--dataset", "imagefolder", *common]) != 0
    assert "--subset imagemeow: " in _error(capsys)
    assert main(["import", "image-mtt", str(folder), "--dataset", "cifar10", *common]) != 0
    assert "--subset imagewoof: MTT's ImageNet subsets import over --dataset imagefolder" in _error(capsys)


def test_an_imported_buffer_records_the_resize_its_data_was_read_with(tmp_path):
    """MTT reads its subsets Resize + CenterCrop (utils.py:97-101): a buffer imported over a tree read with
    resize=center_crop recorded no input space, so the run with the same resize=center_crop refused it as experts of
    squeezed images. It records the data's input space now."""
    from mmdistill.modalities.image.datasets import load_image_dataset

    tree = _tree(tmp_path / "tree", MTT_SUBSETS["imagewoof"])
    real = load_image_dataset("imagefolder", tree, image_size=8, resize="center_crop")
    stats = f"{','.join(map(str, real.mean))}/{','.join(map(str, real.std))}"
    folder = tmp_path / "buffers" / "ImageNet" / "imagewoof" / "128" / "ConvNetD2"
    folder.mkdir(parents=True)
    from mmdistill.nets import build_network

    net = build_network("convnetd2", (3, 8, 8), 10)
    torch.save([[[p.detach() + 0.01 * e for p in net.parameters()] for e in range(2)]], folder / "replay_buffer_0.pt")
    assert main(["import", "image-mtt", str(folder), "--dataset", "imagefolder", "--data-root", str(tree), "--image-size", "8",
                 "resize=center_crop", "--network", "convnetd2", "--zca", "no", "--stats", stats, "--buffer", str(tmp_path / "buf"),
                 "batch_train=8"]) == 0
    assert ExpertBuffer(tmp_path / "buf").index["spec"]["data"] == {"input_space": {"resize": "center_crop"}}


@pytest.mark.parametrize("subset, resize, warned", [("imagewoof", "squeeze", True), ("imagewoof", "center_crop", False),
                                                    ("sorted", "squeeze", False)])  # sorted: a fork's ImageFolder
def test_a_subset_import_not_read_with_center_crop_is_warned_at_import_time(tmp_path, capsys, subset, resize, warned):
    """Mend 56D (item 4): MTT reads its ImageNet subsets Resize + CenterCrop (utils.py:93-101) and README says to add
    resize=center_crop; an import without it said nothing, and the set was scored on squeezed photos (a buffer's
    experts, matched on them). The import now warns, naming the key."""
    indices = MTT_SUBSETS["imagewoof"]
    tree = _tree(tmp_path / "tree", indices)
    images = _mtt_set(tmp_path / "logged_files" / "ImageNet" / "run", indices)
    stats = ["--zca", "no", "--stats", "imagenet"] if subset != "sorted" else ["--stats", "unit"]
    assert _import(tmp_path, tree, images, "--subset", subset, *stats, f"resize={resize}") == 0
    err = capsys.readouterr().err
    assert ("--subset imagewoof: MTT reads its ImageNet subsets with Resize + CenterCrop" in err) == warned
    assert ("reads the data with resize=squeeze" in err and "add resize=center_crop" in err) == warned


def test_an_import_resolves_its_subset_once(tmp_path, monkeypatch):
    """Mend 56D (item 6): the subset was resolved by stated_subset before the data was loaded and again inside
    class_order (a set's import discarded the first result). It is resolved once and class_order reads it."""
    import mmdistill.reference_subsets as subsets  # both import paths call it through resolved_subset

    calls = []
    real = subsets.stated_subset
    monkeypatch.setattr(subsets, "stated_subset", lambda *a: calls.append(a) or real(*a))
    indices = MTT_SUBSETS["imagewoof"]
    tree = _tree(tmp_path / "tree", indices)
    images = _mtt_set(tmp_path / "logged_files" / "ImageNet" / "run", indices)
    assert _import(tmp_path, tree, images, "--subset", "imagewoof", "--zca", "no", "--stats", "imagenet", "resize=center_crop") == 0
    assert len(calls) == 1
