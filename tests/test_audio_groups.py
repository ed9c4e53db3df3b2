"""The folder CSV's group_by column (speakers): a drawn split holds out whole groups, a given split may not put a
group on both sides (walk 52E: before, a speaker column was "not read" and the seeded 20 % of each class put every
speaker in both splits, with no way to say otherwise short of writing the split column by hand)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("torchaudio")

from mmdistill.errors import DataError  # noqa: E402
from mmdistill.modalities.audio.datasets import find_audio_items, load_audio_dataset, tone_clip  # noqa: E402

SPEAKERS = ("ann", "bob", "cyd", "dee", "eve")


def _csv(tmp_path: Path, header: str = "path,label,speaker", split: dict[str, str] | None = None, name: str = "meta.csv") -> Path:
    """Two classes x 5 speakers x 2 takes of generated tones, listed as path,label,speaker (+ split per speaker)."""
    rows = [header]
    for c, kind in enumerate(("rising", "steady")):
        (tmp_path / kind).mkdir(exist_ok=True)
        rng = np.random.default_rng(c)
        for spk in SPEAKERS:
            for take in range(2):
                f = tmp_path / kind / f"{spk}_{take}.wav"
                if not f.exists():
                    sf.write(f, tone_clip(kind, rng, 8000, 0.3), 8000)
                rows.append(f"{kind}/{spk}_{take}.wav,{kind},{spk}" + (f",{split[spk]}" if split else ""))
    (tmp_path / name).write_text("\n".join(rows) + "\n")
    return tmp_path / name


def _speakers(names: list[str]) -> set[str]:
    return {Path(n).name.split("_")[0] for n in names}


def test_group_by_holds_out_whole_speakers_and_records_them(tmp_path):
    csv = _csv(tmp_path)
    ds = load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3, group_by="speaker", test_fraction=0.4, split_seed=3)
    held = ds.report.facts["test_groups"]
    assert ds.report.facts["group_by"] == "speaker" and len(held) == 2 and set(held) < set(SPEAKERS)
    assert len(ds.x_test) == 2 * 2 * 2 and len(ds.x_train) == 3 * 2 * 2  # 2 held-out speakers x 2 classes x 2 takes
    items, _ = find_audio_items("folder", csv, group_by="speaker", test_fraction=0.4, split_seed=3)
    test = _speakers([it.name for it in items if it.split == "test"])
    assert test == set(held) and not test & _speakers([it.name for it in items if it.split == "train"])
    again = load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3, group_by="speaker", test_fraction=0.4, split_seed=3)
    assert again.report.facts["test_groups"] == held  # the data's split: the same for every run with that split_seed


def test_a_given_split_with_a_speaker_on_both_sides_is_refused_naming_it(tmp_path):
    split = {s: "test" if s == "eve" else "train" for s in SPEAKERS}
    ok = load_audio_dataset("folder", _csv(tmp_path, "path,label,speaker,split", split), sample_rate=8000, duration=0.3,
                            group_by="speaker")
    assert len(ds_test := ok.x_test) == 4 and ds_test.shape[0] == 4
    bad = _csv(tmp_path, "path,label,speaker,split", split, name="bad.csv")
    text = bad.read_text().replace("rising/ann_1.wav,rising,ann,train", "rising/ann_1.wav,rising,ann,test")
    bad.write_text(text)
    with pytest.raises(DataError, match=r"1 group\(s\) of column 'speaker' \(group_by\) have rows in both splits.*'ann' \(train rows 2, "
                                        r"12, 13; test rows 3\)"):
        load_audio_dataset("folder", bad, sample_rate=8000, duration=0.3, group_by="speaker")


def test_group_by_mistakes_are_named(tmp_path):
    csv = _csv(tmp_path)
    with pytest.raises(DataError, match=r"the third column must be named split, got 'speaker' \(a column of groups such as speakers: "
                                        r"name it with group_by='speaker', --group-by speaker\)"):
        load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3)
    with pytest.raises(DataError, match=r"group_by='session' \(--group-by\) is not a column of its header row \(path, label, speaker\); "
                                        r"expected a column after path,label"):
        load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3, group_by="session")
    with pytest.raises(DataError, match=r"group_by='speaker' \(--group-by\) reads each clip's group from its file name .* matches none "
                                        r"of the 20 clips' names .* a CSV path,label,<group column> with group_by naming the column"):  # a tree: a pattern (walk 54H)
        load_audio_dataset("folder", tmp_path, sample_rate=8000, duration=0.3, group_by="speaker")
    headless = tmp_path / "headless.csv"
    headless.write_text("\n".join(csv.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(DataError, match=r"has no header row, and group_by='speaker' names a column"):
        load_audio_dataset("folder", headless, sample_rate=8000, duration=0.3, group_by="speaker")
    blank = tmp_path / "blank.csv"
    blank.write_text(csv.read_text().replace("steady/eve_1.wav,steady,eve", "steady/eve_1.wav,steady,"))
    with pytest.raises(DataError, match=r"1 row\(s\) have no value in the group_by column 'speaker' .*rows 21"):
        load_audio_dataset("folder", blank, sample_rate=8000, duration=0.3, group_by="speaker")
    one = tmp_path / "one.csv"
    one.write_text(csv.read_text().replace(",bob\n", ",ann\n").replace(",cyd\n", ",ann\n").replace(",dee\n", ",ann\n").replace(",eve\n", ",ann\n"))
    with pytest.raises(DataError, match=r"column 'speaker' names 1 group\(s\) among the readable clips \('ann'\); it needs two or more"):
        load_audio_dataset("folder", one, sample_rate=8000, duration=0.3, group_by="speaker")


def test_the_recipe_key_reaches_the_loader(tmp_path):
    from mmdistill.modalities.audio import MODALITY
    from mmdistill.modalities.audio.config import AudioDistillConfig

    config = AudioDistillConfig(dataset="folder", data_root=str(_csv(tmp_path)), sample_rate=8000, duration=0.3, group_by="speaker")
    data = MODALITY.load(config)
    assert data.meta["load_report"]["facts"]["group_by"] == "speaker"
    assert len(data.meta["load_report"]["facts"]["test_groups"]) == 1  # round(5 x 0.2)


# --------------------------------------------------------------------------- audio-visual pairs (the pairs CSV)
def _pairs_csv(tmp_path: Path, split: dict[str, str] | None = None, shared: bool = False) -> Path:
    """Two classes x 4 speakers x 2 pairs (a tone and a grey frame each); with ``shared`` the frame of bob's first pair
    of class 0 is also cyd's, so bob and cyd are drawn as one group."""
    from PIL import Image

    rows = ["image_path,audio_path,label,Speaker" + (",split" if split else "")]
    for c in range(2):
        for spk in SPEAKERS[:4]:
            for take in range(2):
                stem = f"{c}_{spk}_{take}"
                sf.write(tmp_path / f"{stem}.wav", tone_clip(("rising", "steady")[c], np.random.default_rng(take), 8000, 0.25), 8000)
                Image.fromarray(np.full((8, 8), 60 + 100 * c + take, dtype=np.uint8), mode="L").save(tmp_path / f"{stem}.png")
                image = f"{c}_bob_0.png" if shared and c == 0 and spk == "cyd" and take == 0 else f"{stem}.png"
                rows.append(f"{image},{stem}.wav,{c},{spk}" + (f",{split[spk]}" if split else ""))
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "pairs.csv"


def _av_cfg(**kw):
    from mmdistill.recipes import audio_visual_avdd

    return audio_visual_avdd.RECIPE.config(**{"budget": "cpu", "ipc": 1, "image_size": 8, "n_mels": 8, "audio_frames": 8,
                                              "dataset": "csv", **kw})


def test_pairs_group_by_holds_out_whole_speakers_and_files_stay_together(tmp_path):
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    csv = _pairs_csv(tmp_path, shared=True)
    for seed in range(4):
        pairs = read_csv_pairs(csv, 0.25, seed, group_by="speaker")
        test = {p.name.split("_")[1] for p in pairs if p.split == "test"}
        assert test and not test & {p.name.split("_")[1] for p in pairs if p.split == "train"}, seed
        assert ("bob" in test) == ("cyd" in test), seed  # they share a frame: one group, "bob+cyd"
    data = MODALITY.load(_av_cfg(data_root=str(csv), group_by="speaker", split_seed=1))
    facts = data.meta["load_report"]["facts"]
    assert facts["group_by"] == "speaker" and len(facts["test_groups"]) == 1
    assert "groups of column 'speaker'" in data.meta["split_rule"]


def test_pairs_group_by_mistakes_are_named(tmp_path):
    from mmdistill.errors import ConfigError
    from mmdistill.modalities.audio_visual import MODALITY
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    split = {"ann": "train", "bob": "train", "cyd": "test", "dee": "train"}
    csv = _pairs_csv(tmp_path, split)
    assert {p.name.split("_")[1] for p in read_csv_pairs(csv, group_by="speaker") if p.split == "test"} == {"cyd"}
    csv.write_text(csv.read_text().replace("1_ann_1.wav,1,ann,train", "1_ann_1.wav,1,ann,test"))
    with pytest.raises(DataError, match=r"1 group\(s\) of column 'speaker' \(group_by\) have rows in both splits.*'ann' \(train rows 2, "
                                        r"3, 10; test rows 11\)"):
        read_csv_pairs(csv, group_by="speaker")
    with pytest.raises(DataError, match=r"group_by='session' \(--group-by\) is not a column of its header row \(image_path, "
                                        r"audio_path, label, speaker, split\)"):
        read_csv_pairs(csv, group_by="session")
    csv.write_text(csv.read_text().replace("1_dee_1.wav,1,dee,", "1_dee_1.wav,1,,"))
    with pytest.raises(DataError, match=r"1 row\(s\) have no value in the group_by column 'speaker' .*rows 17"):
        read_csv_pairs(csv, group_by="speaker")
    with pytest.raises(ConfigError, match="names a column of a pairs CSV"):
        MODALITY.load(_av_cfg(dataset="tones-digits", group_by="speaker"))


# --------------------------------------------------------------------------- a class held out whole by the group draw
def _one_speaker_class(csv: Path, speaker: str, label_of: str = "steady") -> Path:
    """The CSV with every clip of class ``label_of`` relabelled as ``speaker``'s (a class only one speaker recorded)."""
    lines = csv.read_text().splitlines()
    out = [lines[0]] + [",".join(r.split(",")[:2] + [speaker]) if r.split(",")[1] == label_of else r for r in lines[1:]]
    csv.write_text("\n".join(out) + "\n")
    return csv


def test_a_class_whose_only_speaker_is_held_out_is_named_with_its_group_not_blamed_on_unreadable_files(tmp_path):
    # before: "class(es) 'steady' (index 1) have no training samples (every file of theirs was skipped as unreadable, or
    # none is labelled so)" from the trainer, after a warning that 'rising' needs "at least two readable clips"
    csv = _one_speaker_class(_csv(tmp_path), "eve")
    seed = next(s for s in range(50) if load_audio_items_held(csv, s) == ["eve"])
    with pytest.raises(DataError, match=r"groups of column 'speaker' \(group_by\) held out as test hold all the clips of 1 class\(es\), "
                                        r"which then have no training clips: 'steady' \(group\(s\) 'eve'\); .*split_seed"):
        load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3, group_by="speaker", test_fraction=0.2, split_seed=seed)


def load_audio_items_held(csv: Path, seed: int) -> list[str]:
    """The speakers the loader's draw holds out with ``seed`` (the draw alone: find_audio_items refuses a draw that leaves
    a class without training clips, as the loader does, since walk 54H)."""
    from mmdistill.modalities.groups import group_test_flags

    speakers = [line.split(",")[2] for line in csv.read_text().splitlines()[1:]]
    return group_test_flags(speakers, 0.2, seed, column="speaker", where=str(csv))[1]


def test_a_class_whose_speakers_all_train_is_warned_of_as_a_group_split(tmp_path, caplog):
    csv = _one_speaker_class(_csv(tmp_path), "eve")
    seed = next(s for s in range(50) if load_audio_items_held(csv, s) != ["eve"])
    with caplog.at_level("WARNING"):
        ds = load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3, group_by="speaker", test_fraction=0.2, split_seed=seed)
    assert ds.report.facts["classes_without_test"] == ["steady"]
    assert "every group of column 'speaker' (group_by) holding its clips was kept for training" in caplog.text
    assert "at least two readable clips" not in caplog.text


def test_pairs_a_class_whose_only_speaker_is_held_out_is_named(tmp_path):
    from mmdistill.modalities.audio_visual.loaders import read_csv_pairs

    csv = _pairs_csv(tmp_path)
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([lines[0]] + [r.rsplit(",", 1)[0] + ",dee" if r.split(",")[2] == "1" else r for r in lines[1:]]) + "\n")
    for seed in range(50):
        try:
            pairs = read_csv_pairs(csv, 0.25, seed, group_by="speaker")
        except DataError as exc:
            assert "hold all the pairs of 1 class(es), which then have no training pairs: '1' (group(s) 'dee')" in str(exc)
            break
        assert {p.label for p in pairs if p.split == "train"} == {"0", "1"}, seed
    else:
        pytest.fail("no split_seed held out 'dee'")


def test_a_header_naming_the_file_column_file_is_read_as_path(tmp_path):
    """Walk 52E: a metadata sheet's header file,label,speaker was refused ('neither the header path,label[,split] nor a
    row of an audio file'); file and filename name the path column as path does."""
    for name in ("file", "filename"):
        csv = _csv(tmp_path, f"{name},label,speaker", name=f"{name}.csv")
        ds = load_audio_dataset("folder", csv, sample_rate=8000, duration=0.3, group_by="speaker", test_fraction=0.4, split_seed=3)
        assert len(ds.x_test) + len(ds.x_train) == 2 * len(SPEAKERS) * 2


def test_the_group_refusals_are_worded_once_for_clips_and_pairs():
    """Walk 53C: the audio and audio-visual CSV loaders worded their group refusals each its own way (the pairs loader
    said 'a share of each class's clips' and its header 'columns ...'); modalities.groups words them once, with the noun
    of the loader."""
    from mmdistill.modalities.groups import group_test_flags, no_group_column, refuse_groups_in_both

    with pytest.raises(DataError, match=r"^pairs.csv: group_by='speaker' \(--group-by\) holds out whole groups, but column "
                                        r"'speaker' names 1 group\(s\) among the readable pairs \('ann'\); it needs two or "
                                        r"more, or leave group_by out to hold out a share of each class's pairs$"):
        group_test_flags(["ann", "ann"], 0.5, 0, column="speaker", where="pairs.csv", noun="pairs", labels=["1", "2"])
    for noun in ("clips", "pairs"):
        with pytest.raises(DataError, match=rf"^f.csv: 1 group\(s\) of column 'speaker' \(group_by\) have rows in both splits, "
                                            rf"so the test {noun} score .*'ann' \(train rows 2; test rows 3\); put each group's "
                                            r"rows in one split, or leave the split empty on every row"):
            refuse_groups_in_both("f.csv", "speaker", ["ann", "ann", "bob"], ["train", "test", "test"], [2, 3, 4], noun)
    said = str(no_group_column("f.csv", "session", ["image_path", "audio_path", "label"], "pair"))
    assert said == ("f.csv: group_by='session' (--group-by) is not a column of its header row (image_path, audio_path, "
                    "label); expected a column naming each pair's group (a speaker)")
    flags, held = group_test_flags(["a", "a", "b", "c"], 0.34, 0, column="speaker", where="f.csv", labels=["x", "y", "x", "y"])
    assert sum(flags) >= 1 and held
