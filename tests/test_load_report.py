"""The core load report (``mmdistill.load_report``): the one shape every adapter stores in ``synthetic.meta.load_report``,
read back, named relative to the data root, refused under strict, and the card line of new and older manifests."""

from __future__ import annotations

import json

import pytest

from mmdistill.card import card_summary, loading_counts, render_card
from mmdistill.errors import ArtifactError, DataError
from mmdistill.load_report import FORMAT, HIDDEN, NAMES, NOTHING, LoadReport, is_report


def _report(root) -> LoadReport:
    rep = LoadReport(root=str(root), descriptions={"unreadable": "unreadable file(s) skipped", "ignored": "file(s) not used",
                                                   "padded": "clip(s) padded"}, facts={"sample_rate": 8000})
    for i in range(NAMES + 5):
        rep.add("unreadable", root / "a" / f"{i:02d}.wav", f"cannot decode {i}")
    rep.add("ignored", "/elsewhere/notes.txt", "not audio")
    rep.count("resampled", 7)
    return rep


def test_as_dict_has_one_shape_and_reads_back(tmp_path):
    rep = _report(tmp_path / "data")
    d = rep.as_dict()
    assert set(d) == {"format", "root", "counts", "files", "facts"} and d["format"] == FORMAT == 1
    assert d["counts"] == {"unreadable": NAMES + 5, "ignored": 1, "padded": 0, "resampled": 7}  # declared kinds first, zeros kept
    assert len(d["files"]["unreadable"]) == NAMES and "resampled" not in d["files"] and "padded" not in d["files"]
    assert d["facts"] == {"sample_rate": 8000}
    back = LoadReport.from_dict(json.loads(json.dumps(d)))  # through JSON, as a manifest stores it
    assert back.counts() == rep.counts() and back.facts == rep.facts and back.as_dict() == d
    assert back.items("ignored") == [("notes.txt", "")]  # names without reasons (those stay in the log)
    assert LoadReport.from_dict(LoadReport().as_dict()).counts() == {}


def test_entries_are_stored_relative_to_the_root_never_the_machines_folders(tmp_path):
    d = _report(tmp_path / "data").as_dict()
    assert d["root"] == "data" and str(tmp_path) not in json.dumps(d) and "/elsewhere" not in json.dumps(d)
    assert d["files"]["unreadable"][:2] == ["a/00.wav", "a/01.wav"] and d["files"]["ignored"] == ["notes.txt"]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "list.csv").write_text("path,label\n")
    csv = LoadReport(root=str(tmp_path / "data" / "list.csv"))  # a root that is a file: names relative to its folder
    csv.add("unreadable", tmp_path / "data" / "b" / "x.wav", "empty")
    csv.add("unreadable", "b/y.wav", "relative names are kept")
    assert csv.as_dict()["root"] == "list.csv" and csv.as_dict()["files"]["unreadable"] == ["b/x.wav", "b/y.wav"]


def test_lines_name_the_first_entries_with_the_adapters_descriptions(tmp_path):
    lines = _report(tmp_path / "data").lines()
    assert lines[0].startswith(f"{NAMES + 5} unreadable file(s) skipped: ") and lines[0].endswith(" ...")
    assert f"{tmp_path / 'data' / 'a' / '00.wav'} (cannot decode 0)" in lines[0]
    assert lines[1] == "1 file(s) not used: /elsewhere/notes.txt (not audio)" and lines[2] == "7 resampled"
    assert len(lines) == 3  # padded: 0, no line


def test_strict_error_names_what_would_be_left_out(tmp_path):
    rep = _report(tmp_path / "data")
    assert rep.strict_error(["padded"]) is None
    err = rep.strict_error(["unreadable", "ignored"])
    assert isinstance(err, DataError)
    msg = str(err)
    assert msg.startswith(f"{NAMES + 6} item(s) under {tmp_path / 'data'} would be left out: ")
    assert "00.wav (unreadable: cannot decode 0)" in msg and "03.wav" not in msg and " ...; --strict makes that an error" in msg
    assert msg.endswith("(without it they are skipped, counted and logged)")
    counted = LoadReport(root="r")
    counted.count("resampled", 3)
    assert str(counted.strict_error(["resampled"], flag="strict=true", would="would be resampled", without="resampled")) == (
        "3 item(s) under r would be resampled: 3 resampled; strict=true makes that an error (without it resampled)")


def test_strict_error_names_hidden_entries_but_never_refuses_them():
    """Hidden entries (``.DS_Store``, ``.git/``) are named by every loader's report and never a strict error: the core
    report spares them (before, the video report and the audio loader each filtered them out themselves)."""
    rep = LoadReport(root="data", descriptions={"ignored": "file(s) not used"})
    rep.extend("ignored", [("data/.DS_Store", HIDDEN), ("data/a/.git", HIDDEN)])
    assert rep.counts() == {"ignored": 2} and rep.as_dict()["files"]["ignored"] == [".DS_Store", "a/.git"]  # named
    assert rep.strict_error(["ignored"]) is None  # never an error
    rep.add("ignored", "data/a/notes.txt", "not audio")
    msg = str(rep.strict_error(["ignored"]))
    assert msg.startswith("1 item(s) under data would be left out: data/a/notes.txt (ignored: not audio); --strict") and "DS_Store" not in msg


def test_from_dict_refuses_another_shape():
    assert not is_report({"unreadable": 2, "unreadable_files": ["a"]}) and is_report(LoadReport().as_dict())
    with pytest.raises(ArtifactError, match="not a load report of format 1"):
        LoadReport.from_dict({"unreadable": 2, "unreadable_files": ["a"]})
    with pytest.raises(ArtifactError, match=r"kind\(s\) \['padded'\]"):
        LoadReport.from_dict({"format": 1, "root": "", "counts": {"padded": -1}, "files": {}, "facts": {}})
    with pytest.raises(ValueError, match="integer >= 0"):
        LoadReport().count("padded", -2)


def _manifest(meta: dict) -> dict:
    return {"recipe": "video-dm", "method": "dm", "dataset": "folder", "ipc": 1, "modality": "video",
            "synthetic": {"tensors": {"labels": [2]}, "meta": meta}}


def test_the_card_states_the_counts_of_a_new_shape_report(tmp_path):
    rep = LoadReport(root=str(tmp_path), descriptions={"unreadable": "", "skipped_short": "", "ignored": ""}, facts={"cache": "hit x"})
    rep.add("unreadable", tmp_path / "a" / "x.mp4", "bad")
    rep.add("unreadable", tmp_path / "b" / "y.mp4", "bad")
    rep.add("ignored", tmp_path / "notes.txt", "not a clip")
    manifest = _manifest({"load_report": rep.as_dict()})
    assert loading_counts(manifest) == "unreadable 2, ignored 1"  # before: "format 1" (every positive integer at the top)
    assert "loading: unreadable 2, ignored 1" in card_summary(manifest)
    assert "- what loading read and left out: unreadable 2, ignored 1 (the files are named in the manifest's" in render_card(manifest)
    counts_only = LoadReport(root="g", descriptions={"self_loops_kept": ""})
    counts_only.count("self_loops_kept", 3)  # a graph's counts name no file: the card does not say they are named
    assert "self loops kept 3 (recorded in the manifest's `synthetic.meta.load_report`)" in render_card(_manifest({"load_report": counts_only.as_dict()}))
    assert loading_counts(_manifest({"load_report": LoadReport(root="r", descriptions={"padded": ""}).as_dict()})) == NOTHING
    # the sequences adapter keeps its data_stats (rows read, users ...) beside the report: only the report's counts are stated
    stats = {"rows_read": 900, "users": 30, "duplicate_rows": 4}
    seq = LoadReport(root="log.csv")
    seq.count("duplicate_rows", 4)
    assert loading_counts(_manifest({"data_stats": stats, "load_report": seq.as_dict()})) == "duplicate rows 4"


def test_the_card_still_reads_manifests_saved_before_the_one_shape():
    flat = {"unreadable": 2, "skipped_short": 0, "ignored": 1, "unreadable_files": ["a/x.mp4", "b/y.mp4"], "cache": ""}
    assert loading_counts(_manifest({"load_report": flat})) == "unreadable 2, ignored 1"
    assert loading_counts(_manifest({"load_report": {"unreadable": 0}})) == NOTHING
    audio = {"root": "data", "clips": 18, "duration_s": 0.4, "sample_rate": 16000, "skipped": 2, "skipped_files": ["a.wav", "b.wav"],
             "ignored": 0, "ignored_files": [], "resampled": {"8000": 3}, "padded": 0, "cropped": 0}
    assert loading_counts(_manifest({"load_report": audio})) == "clips 18, sample rate 16,000, skipped 2"  # as its card said
    stats = {"format": "csv", "rows_read": 15886, "duplicate_rows": 7943, "kcore_rounds": 1, "users": 200}
    assert loading_counts(_manifest({"data_stats": stats})) == "rows read 15,886, duplicate rows 7,943, kcore rounds 1, users 200"
    generated = {"rows_read": 6000, "duplicate_rows": 0, "users": 300}  # a generated log's stats name no file format
    assert loading_counts(_manifest({"data_stats": generated})) is None
    assert loading_counts(_manifest({})) is None and loading_counts({"synthetic": {}}) is None
    assert "loading:" not in card_summary(_manifest({})) and "what loading read" not in render_card(_manifest({}))


def test_a_format_this_version_does_not_read_gets_no_counts():
    """A report whose format is not 1 (2, or true, which equals 1) or whose files / facts are null is not read as
    the one shape, and the card says so rather than listing its positive integers as an older flat dict (before:
    "format 1" or "format 2")."""
    good = LoadReport(root="r", descriptions={"unreadable": ""})
    good.add("unreadable", "a.wav", "bad")
    for change in ({"format": True}, {"format": 2}, {"format": 1.0}, {"files": None}, {"facts": None}, {"counts": None}):
        stored = {**good.as_dict(), **change}
        assert not is_report(stored), change
        with pytest.raises(ArtifactError, match="not a load report of format 1"):
            LoadReport.from_dict(stored)
        line = loading_counts(_manifest({"load_report": stored}))
        assert line.startswith("not shown: the load report (format ") and "unreadable" not in line, change
        assert "loading: not shown" in card_summary(_manifest({"load_report": stored}))
    bad_counts = {**good.as_dict(), "counts": {"unreadable": "1"}}  # format 1, counts that are not integers
    assert loading_counts(_manifest({"load_report": bad_counts})).startswith("not shown")
    assert loading_counts(_manifest({"load_report": good.as_dict()})) == "unreadable 1"
    with pytest.raises(ArtifactError, match=r"\['1', 'a'\]"):  # before: a TypeError sorting int and str keys
        LoadReport.from_dict({1: 0, "a": 1})


def test_reading_a_kind_does_not_add_it():
    rep = LoadReport(root="r", descriptions={"unreadable": ""})
    assert rep.items("typo") == [] and rep.items("unreadable") == []
    assert rep.counts() == {"unreadable": 0} and "typo" not in rep.as_dict()["counts"]
    rep.add("unreadable", "a.wav", "bad")
    listed = rep.items("unreadable")
    listed.append(("b.wav", ""))  # a copy: the report is filled by add / extend / count only
    assert rep.counts() == {"unreadable": 1} and rep.items("unreadable") == [("a.wav", "bad")]


def test_the_root_is_named_as_given_not_after_a_links_target(tmp_path):
    (tmp_path / "store" / "kinetics-2024").mkdir(parents=True)
    (tmp_path / "kinetics").symlink_to(tmp_path / "store" / "kinetics-2024")
    rep = LoadReport(root=str(tmp_path / "kinetics"))
    rep.add("unreadable", tmp_path / "kinetics" / "a" / "x.mp4", "bad")
    rep.add("unreadable", tmp_path / "store" / "kinetics-2024" / "b" / "y.mp4", "bad")  # the same file through the target
    d = rep.as_dict()
    assert d["root"] == "kinetics" and d["files"]["unreadable"] == ["a/x.mp4", "b/y.mp4"]  # before: root "kinetics-2024"


def test_the_read_back_keeps_the_stored_order_of_kinds():
    stored = {"format": 1, "root": "", "counts": {"padded": 2, "unreadable": 1}, "files": {"unreadable": ["a.wav"]}, "facts": {}}
    back = LoadReport.from_dict(stored)
    assert list(back.counts()) == ["padded", "unreadable"] and back.summary() == "padded 2, unreadable 1"
    assert loading_counts(_manifest({"load_report": stored})) == "padded 2, unreadable 1"


def test_the_card_line_names_classes_left_without_a_test_sample():
    """The loaders recorded classes_without_test in the manifest, but the card's line showed only counts."""
    report = LoadReport(root="set")
    report.facts["classes_without_test"] = ["solo", "duo"]
    manifest = {"synthetic": {"meta": {"load_report": report.as_dict()}}}
    assert loading_counts(manifest) == (f"{NOTHING}; class(es) without a test sample, trained on but not scored: `solo`, `duo`")


def test_the_card_line_names_the_groups_a_group_by_split_held_out():
    """Walk 54B: a group_by split (audio and audio-visual CSVs, video and audio-visual clip names) recorded its held-out
    groups in the manifest (facts group_by, test_groups), but the card's line said nothing of them: a reader could not
    tell the score was taken on speakers the set never saw."""
    report = LoadReport(root="clips")
    report.facts.update(group_by=r"spk(\d+)", test_groups=["01", "04"])
    line = loading_counts({"synthetic": {"meta": {"load_report": report.as_dict()}}})
    assert line == f"{NOTHING}; test split: the group(s) `01`, `04` of group_by `spk(\\d+)` held out whole (none trained on)"
    report.facts["test_groups"] = []  # a given split: nothing drawn, nothing said
    assert LoadReport.from_dict(report.as_dict()).summary() == NOTHING


def test_the_card_says_what_memorisation_png_draws_and_whether_a_rescoring_changed_the_protocol():
    """The card promised "the closest pairs" for sets whose picture has only the histograms (graphs, sequences, video),
    and called a re-scoring with the run's own protocol "another protocol"."""
    space = {"synthetic": {"median": 1.0, "min": 0.5}, "random_real": {"median": 1.0, "min": 0.5}, "ratio_median": 1.0,
             "frac_below_real_min": 0.0}
    proto = {"runs": 2, "epochs": 3}
    sets = {"distilled": {"mean": 0.5, "std": 0.1, "runs": [0.4, 0.6]}}
    for pairs, said in ((False, "The two distance distributions: `memorisation.png`"),
                        (True, "Distributions and the closest pairs: `memorisation.png`")):
        manifest = {**_manifest({}), "memorisation": {"input": space, "input_space": "x", "picture": "memorisation.png",
                                                      "picture_pairs": pairs},
                    "metrics": {"metric": "accuracy", "network": "convnet", **sets, "protocol": proto,
                                "earlier": {**sets, "protocol": proto}}}
        card = render_card(manifest)
        assert said in card and "(the same protocol) are in the manifest under `metrics.earlier`" in card
    manifest["metrics"]["earlier"]["protocol"] = {"runs": 2, "epochs": 30}
    assert "(another protocol)" in render_card(manifest)


def test_the_card_line_cuts_long_name_lists_as_every_list_is_cut():
    """Review R1 (finding 4): the card line cut its lists with its own '... and K more' where every other list a message
    names is cut by words.id_list (the first ones, then how many in all)."""
    report = LoadReport(root="clips")
    report.facts.update(classes_without_test=[f"c{i}" for i in range(NAMES + 3)], group_by="speaker",
                        test_groups=[f"s{i}" for i in range(NAMES + 1)])
    line = report.summary()
    assert f"`c{NAMES - 1}` ... ({NAMES + 3} in all); test split" in line and f"`c{NAMES}`" not in line
    assert f"`s{NAMES - 1}` ... ({NAMES + 1} in all) of group_by `speaker`" in line and "more" not in line


def test_base_folder_is_one_rule_for_a_report_and_the_video_group_check(tmp_path, monkeypatch):
    """Review R3 (minor): the video layout's _items_root repeated LoadReport.base_folder; both use load_report.base_folder:
    a file root's folder, a folder itself, ``~`` expanded."""
    from mmdistill.load_report import LoadReport, base_folder

    (tmp_path / "clips.csv").write_text("path,label,split\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert base_folder(tmp_path / "clips.csv") == tmp_path == base_folder(str(tmp_path))
    assert base_folder("~/clips.csv") == tmp_path and base_folder("~/nothing") == tmp_path / "nothing"
    assert LoadReport(root=str(tmp_path / "clips.csv")).base_folder() == tmp_path and LoadReport().base_folder() is None
