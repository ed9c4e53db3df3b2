"""The length of an MP3 file's MPEG audio stream, counted from its frame headers (no decoding).

libsndfile (through mpg123) and decord both stop where a Xing/Info header says the stream ends; when that header does
not describe the whole stream (MP3 files joined with ``cat``, VBR written without one) they return part of the sound
with no error. :func:`stream_seconds` walks the frames as a decoder that reads to the end does, so
:func:`~modalities.audio.decode.decode` can tell when it was given less than the file holds.
"""

from __future__ import annotations

from pathlib import Path

#: kbit/s by (1 for MPEG-1, 2 for MPEG-2 and 2.5; layer 1-3) and the header's 4-bit bitrate index (0: free format)
_KBPS = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
#: sample rates (Hz) by the header's version bits (3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5) and its 2-bit rate index
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _id3_end(data: bytes) -> int:
    """The first byte after an ID3v2 tag at the start of ``data`` (0 when there is none); its size is a syncsafe integer."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    return 10 + ((data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F))


def _frame(header: bytes) -> tuple[int, int, int] | None:
    """(frame bytes, samples per frame, sample rate in Hz) of the 4-byte MPEG audio frame header ``header``, or None
    when it is not one (no sync, reserved version / layer / rate, free-format or bad bitrate)."""
    b0, b1, b2 = header[0], header[1], header[2]
    version, layer_bits, rate_index, bitrate_index = (b1 >> 3) & 3, (b1 >> 1) & 3, (b2 >> 2) & 3, b2 >> 4
    if b0 != 0xFF or b1 & 0xE0 != 0xE0 or version == 1 or layer_bits == 0 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    layer = 4 - layer_bits
    bits_per_s = _KBPS[(1 if version == 3 else 2, layer)][bitrate_index] * 1000
    rate, padding = _RATES[version][rate_index], (b2 >> 1) & 1
    if layer == 1:
        return (12 * bits_per_s // rate + padding) * 4, 384, rate
    samples = 1152 if layer == 2 or version == 3 else 576
    return samples // 8 * bits_per_s // rate + padding, samples, rate


def stream_seconds(source: bytes | str) -> tuple[float | None, float]:
    """(seconds of audio in the MPEG frames of ``source`` (an MP3 file's bytes or path), seconds of one frame): an ID3v2
    tag at the start is skipped, and bytes that start no frame (other tags, garbage, a frame at another sample rate)
    are passed one at a time, as decoders resynchronise; ``(None, 0.0)`` when no frame is found. The Xing/Info frame
    and the encoder's delay and padding are counted, so a decoder gives up to a few frames less."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    pos, samples, rate, per_frame = _id3_end(data), 0, None, 0
    while pos + 4 <= len(data):
        frame = _frame(data[pos : pos + 4])
        if frame is None or frame[0] < 4 or (rate is not None and frame[2] != rate):
            pos += 1
            continue
        size, per_frame, rate = frame
        samples += per_frame
        pos += size
    return (samples / rate, per_frame / rate) if rate else (None, 0.0)


__all__ = ["stream_seconds"]
