"""The audio datasets known by name (``tones``, ``fsdd``, ``folder``, ``speechcommands``, ``gtzan``): their names and
aliases, the rate and clip length each is read at, and the layout each expects under its data root."""

from __future__ import annotations

from ..sources import dataset_name

DATASETS = ("tones", "fsdd", "folder", "speechcommands", "gtzan")
ALIASES = {"free-spoken-digit": "fsdd", "free_spoken_digit": "fsdd", "audiofolder": "folder", "audio-folder": "folder",
           "csv": "folder", "speech-commands": "speechcommands", "speech_commands": "speechcommands"}
#: (sample rate in Hz, clip length in seconds) a dataset is read at unless the config says otherwise;
#: None: the longest clip of the set
NATIVE: dict[str, tuple[int, float | None]] = {
    "tones": (8000, 0.5), "fsdd": (8000, 1.0), "folder": (16000, None), "speechcommands": (16000, 1.0), "gtzan": (22050, 30.0),
}
LAYOUTS = {
    "fsdd": "ROOT/recordings.tar, ROOT/recordings/{digit}_{speaker}_{index}.wav or ROOT/{digit}_{speaker}_{index}.wav",
    "folder": "ROOT/<class>/<audio files> (or ROOT/train/<class>/..., ROOT/test/<class>/...) or a CSV file path,label[,split]",
    "speechcommands": "ROOT/SpeechCommands/speech_commands_v0.02/<word>/<file>.wav",
    "gtzan": "ROOT/genres/<genre>/<genre>.<5 digits>.wav",
}


def list_audio_datasets() -> list[str]:
    """The canonical names of the audio datasets the loader knows (:data:`DATASETS`, in order)."""
    return list(DATASETS)


def canonical_name(name: str) -> str:
    """The canonical dataset name of ``name`` (stripped, lower-cased, an alias resolved). ConfigError (key ``dataset``)
    for an unknown name, naming the closest names, or one that is not a string (:func:`~modalities.sources.dataset_name`)."""
    return dataset_name(name, DATASETS, ALIASES, "audio")
