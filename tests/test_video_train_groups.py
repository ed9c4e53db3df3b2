"""Mend 55V: the recording of each decoded training clip (:func:`modalities.video.train_groups.train_groups`), pinned:
a CSV root reads folder groups below the CSV's folder (:func:`mmdistill.load_report.base_folder`), UCF names give a
class's recording without ``group_by`` (each name read once), other names give none, clips not decoded have none."""

from __future__ import annotations

from pathlib import Path


def _items(paths, labels, split="train"):
    from mmdistill.modalities.video.split_rows import Item

    return [Item(Path(p), lab, split) for p, lab in zip(paths, labels)]


def _report(**lost):
    from mmdistill.modalities.video.report import LoadReport

    report = LoadReport()
    for kind, paths in lost.items():
        for p in paths:
            report.add(kind, str(p), "")
    return report


def test_a_csv_root_reads_folder_groups_below_its_folder(tmp_path):
    """group_by=folder with the CSV as the root: each clip's group is its first sub-folder below its class folder,
    the class folders being beside the CSV (as with the folder given)."""
    from mmdistill.modalities.video.train_groups import train_groups

    csv = tmp_path / "split.csv"
    csv.write_text("path,label,split\n")
    paths = [tmp_path / "wave" / "ann" / "a.avi", tmp_path / "jump" / "bob" / "b.avi"]
    for root in (csv, tmp_path, str(csv)):
        assert train_groups(_items(paths, ["wave", "jump"]), _report(), "folder", root, 2) == ["ann", "bob"]


def test_ucf_names_give_recordings_without_group_by_and_other_names_none(tmp_path):
    """No group_by: UCF-named clips give each class's recording ('JumpUp g8'); one other name gives None, as does a
    count that is not the training tensors'."""
    from mmdistill.modalities.video.train_groups import train_groups

    ucf = [Path("JumpUp/v_JumpUp_g08_c01.avi"), Path("Wave/v_Wave_g08_c02.avi")]
    labels = ["JumpUp", "Wave"]
    assert train_groups(_items(ucf, labels), _report(), None, tmp_path, 2) == ["JumpUp g8", "Wave g8"]
    assert train_groups(_items(ucf + [Path("Wave/clip.avi")], labels + ["Wave"]), _report(), None, tmp_path, 3) is None
    assert train_groups(_items(ucf, labels), _report(), None, tmp_path, 3) is None


def test_only_the_decoded_training_clips_have_groups(tmp_path):
    """Test clips and clips the report lists as unreadable or too short are not among the training tensors: the
    groups are those of the others, in their order."""
    from mmdistill.modalities.video.train_groups import train_groups

    paths = [Path(f"A/v_A_g{g:02d}_c01.avi") for g in range(1, 6)]
    items = _items(paths[:4], ["A"] * 4) + _items(paths[4:], ["A"], "test")
    report = _report(unreadable=[paths[0]], skipped_short=[paths[2]])
    assert train_groups(items, report, None, tmp_path, 2) == ["A g2", "A g4"]
    assert train_groups(items, report, "ucf", tmp_path, 2) == ["A g2", "A g4"]
    assert train_groups(items, report, None, tmp_path, 4) is None


def test_ucf_names_are_read_once(tmp_path, monkeypatch):
    """Without group_by, each training clip's UCF name is read once (the check that every clip is UCF-named read them
    all, then the recordings read them again), and the split warning's recordings too."""
    from mmdistill.modalities.video import groups, train_groups

    calls = []
    real = groups.clip_group

    def counted(*args, **kw):
        calls.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(groups, "clip_group", counted)
    monkeypatch.setattr(train_groups, "clip_group", counted, raising=False)
    ucf = [Path(f"JumpUp/v_JumpUp_g{g:02d}_c01.avi") for g in range(1, 5)]
    got = train_groups.train_groups(_items(ucf, ["JumpUp"] * 4), _report(), None, tmp_path, 4)
    assert got == [f"JumpUp g{g}" for g in range(1, 5)]
    assert len(calls) == 4
    calls.clear()
    both = groups.ucf_groups_in_both(ucf + ucf[:1], ["train"] * 4 + ["test"], ["JumpUp"] * 5)
    assert len(both) == 1 and both[0].startswith("'JumpUp g1'") and len(calls) == 5


def test_recording_names_are_a_class_s_for_ucf_and_global_otherwise():
    """recording_names: the rule the video split, its training groups and the audio folder loader share."""
    from mmdistill.modalities.video.groups import recording_names

    assert recording_names(["A", "B"], ["g8", "g8"], "ucf") == ["A g8", "B g8"]
    assert recording_names(["A", "B"], ["03", "03"], r"spk(\d+)") == ["03", "03"]
