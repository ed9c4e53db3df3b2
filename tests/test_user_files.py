"""Valid but unusual files a user brings (walk 42B): read right, or refused naming the file — never silently wrong."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mmdistill.errors import DataError
from mmdistill.modalities.image_text.loaders import BadInput, file_opener, read_csv_records, read_folder_records


def _photo(path, orientation: int = 6) -> None:
    """A 'phone photo': stored 8 wide x 4 high, red on its left half; EXIF ``orientation`` 6 shows it 4 x 8, red on top."""
    a = np.zeros((4, 8, 3), np.uint8)
    a[:, :4] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(a).save(path, "PNG", exif=exif.tobytes())


def test_a_caption_with_an_unquoted_comma_is_refused_naming_its_lines(tmp_path):
    (tmp_path / "caps.csv").write_text('image,caption,split\nim0.jpg,"a dog, quoted",train\nim1.jpg,a dog, test,train\n'
                                      "im2.jpg,a cat,test\nim3.jpg,two people, one, walking,train\n")
    with pytest.raises(DataError, match=r"caps.csv line 3: the row has 4 comma-separated fields .* \(2 rows: lines 3, 5\).*quoted"):
        read_csv_records(tmp_path / "caps.csv")
    (tmp_path / "ok.csv").write_text('image,caption\nim0.jpg,"a dog, a cat",\nim1.jpg,a cat\n')  # an empty extra field is no caption
    assert [r.caption for r in read_csv_records(tmp_path / "ok.csv")] == ["a dog, a cat", "a cat"]


def test_a_graph_table_with_a_byte_order_mark_keeps_its_first_line(tmp_path):
    from mmdistill.modalities.graph.files_folder import _edge_list_files

    (tmp_path / "edges.csv").write_text("\ufeff0,1\n1,2\n3,4\n5,6\n", encoding="utf-8")  # Excel's "CSV UTF-8"
    np.savetxt(tmp_path / "features.csv", np.arange(36).reshape(12, 3), delimiter=",", fmt="%d")
    (tmp_path / "labels.csv").write_text("\ufeff" + "".join(f"{k % 3}\n" for k in range(12)), encoding="utf-8")
    (tmp_path / "train.txt").write_text("\ufeff0\n1\n2\n3\n4\n5\n", encoding="utf-8")
    raw = _edge_list_files(tmp_path)
    assert raw["edge_index"].shape[1] == 4 and raw["edge_index"][:, 0].tolist() == [0, 1]
    assert raw["train_mask"].tolist() == [0, 1, 2, 3, 4, 5]


def test_joined_mp3_files_are_refused_not_read_in_part(tmp_path):
    sf = pytest.importorskip("soundfile")
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile writes no MP3")
    from mmdistill.modalities.audio.decode import decode
    from mmdistill.modalities.audio.mp3 import stream_seconds

    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, tone, 16000, format="MP3")
    one = buf.getvalue()
    (tmp_path / "one.mp3").write_bytes(one)
    assert len(decode("one.mp3", str(tmp_path / "one.mp3")).samples) == 16000  # a whole file: no false alarm
    assert stream_seconds(one + one)[0] == pytest.approx(2 * stream_seconds(one)[0])
    (tmp_path / "joined.mp3").write_bytes(one + one)  # two files joined with cat: libsndfile stops after the first
    for source in (str(tmp_path / "joined.mp3"), one + one):  # a path; an archive member's bytes
        with pytest.raises(DataError, match=r"joined\.mp3: its MP3 stream lasts 2\.\d+ s but libsndfile decodes 1\.000 s"):
            decode("joined.mp3", source)


def test_exif_orientation_is_applied_by_every_photo_reader(tmp_path):
    from mmdistill.modalities.video.datasets import FrameSampling, _decode_frame_dir

    (tmp_path / "it").mkdir()
    _photo(tmp_path / "it" / "p.png")
    opener = file_opener(tmp_path / "it")
    im = opener("p.png")
    assert im.size == (4, 8) and np.asarray(im.convert("RGB"))[0, 0].tolist() == [255, 0, 0]  # upright: red on top
    assert opener.rotated == [("p.png", "orientation 6: stored 8x4, read as 4x8")]
    from PIL import TiffImagePlugin

    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[274] = 6  # a TIFF's own orientation tag: Pillow turns it as it loads and reports the turned size
    with Image.open(tmp_path / "it" / "p.png") as stored:
        stored.save(tmp_path / "it" / "t.tif", tiffinfo=tags)
    assert opener("t.tif").size == (4, 8)  # upright, turned once (by Pillow as it loads a TIFF)
    assert opener.rotated[-1] == ("t.tif", "orientation 6: stored 8x4, read as 4x8")
    clip = tmp_path / "clip"
    clip.mkdir()
    for k in range(1, 3):
        _photo(clip / f"img_{k:05d}.png")
    notes: dict[str, str] = {}
    frames, length, _ = _decode_frame_dir(clip, FrameSampling(num_frames=2, frame_gap=1, frame_size=None), "k", notes)
    assert length == 2 and frames[0].shape == (8, 4, 3) and frames[0][0, 0].tolist() == [255, 0, 0]
    assert notes["exif_rotated"] == "2 of 2 sampled frame(s) turned upright by EXIF (orientation 6: stored 8x4, read as 4x8)"


def test_a_frame_stored_under_two_names_is_refused(tmp_path):
    from mmdistill.modalities.video.datasets import FrameSampling, _decode_frame_dir

    for k in range(1, 5):
        Image.new("RGB", (4, 4), (20 * k,) * 3).save(tmp_path / f"img_{k:05d}.png")
    Image.new("RGB", (4, 4), (20,) * 3).save(tmp_path / "img_1.png")  # another numbering of frame 1
    with pytest.raises(DataError, match=r"holds 1 frame\(s\) twice under two names \(img_00001.png and img_1.png\)"):
        _decode_frame_dir(tmp_path, FrameSampling(num_frames=2, frame_gap=2, frame_size=None), "k")


def test_frames_numbered_before_a_fixed_suffix_are_one_sequence(tmp_path):
    from mmdistill.modalities.video.datasets import FrameSampling, _decode_frame_dir

    for k in (1, 2, 3, 10):
        Image.new("RGB", (4, 4), (10 * k,) * 3).save(tmp_path / f"{k:04d}_rgb.png" if k < 10 else tmp_path / f"{k}_rgb.png")
    frames, length, _ = _decode_frame_dir(tmp_path, FrameSampling(num_frames=4, frame_gap=1, frame_size=None), "k")
    assert length == 4 and [int(f[0, 0, 0]) for f in frames] == [10, 20, 30, 100]  # natural order, frame 10 last


def test_an_image_text_val_folder_is_the_test_split_without_a_test_folder(tmp_path):
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        for k in range(2):
            Image.new("RGB", (4, 4)).save(tmp_path / split / f"{split}{k}.png")
            (tmp_path / split / f"{split}{k}.txt").write_text(f"picture {k} of {split}\n")
    assert sorted({r.split for r in read_folder_records(tmp_path, BadInput())}) == ["test", "train"]
    (tmp_path / "test").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "test" / "t.png")
    (tmp_path / "test" / "t.txt").write_text("a test picture\n")
    records = read_folder_records(tmp_path, BadInput())
    assert {r.split for r in records if r.image.startswith("val")} == {"val"}  # left out beside test/, counted as unused


def test_a_clip_soundfile_cannot_describe_is_measured_by_decoding_it(tmp_path, monkeypatch):
    sf = pytest.importorskip("soundfile")
    from mmdistill.modalities.audio import clips, datasets

    for name, seconds in (("short.wav", 1.0), ("long.wav", 3.0)):
        sf.write(tmp_path / name, np.zeros(int(16000 * seconds), np.float32) + 0.1, 16000)
    real_info = sf.info

    def no_header(source, *args, **kwargs):  # as for an M4A, which libsndfile cannot open (audioread decodes it)
        if "long" in str(getattr(source, "name", source)):
            raise RuntimeError("Format not recognised")
        return real_info(source, *args, **kwargs)

    monkeypatch.setattr(sf, "info", no_header)
    items = [datasets.AudioItem(str(tmp_path / n), lambda n=n: str(tmp_path / n), "tone", "train") for n in ("short.wav", "long.wav")]
    seconds, longest, _ = clips._longest_seconds(items)
    assert seconds == pytest.approx(3.0) and longest.endswith("long.wav")


def test_a_semicolon_separated_interaction_log_is_named_as_such(tmp_path):
    from mmdistill.modalities.sequences.data import read_csv_log

    (tmp_path / "log.csv").write_text("user;item;timestamp\n1;2;100\n1;3;101\n")  # European spreadsheets' CSV
    with pytest.raises(DataError, match=r"log.csv: line 1 \(user;item;timestamp\) is separated by ';'"):
        read_csv_log(tmp_path / "log.csv")
    (tmp_path / "ids.csv").write_text("1 a;b 100\n1 c 101\n")  # whitespace-separated, ';' inside an item id: read
    assert [r[1] for r in read_csv_log(tmp_path / "ids.csv").rows] == ["a;b", "c"]
