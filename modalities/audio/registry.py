"""The audio datasets known by name (``tones``, ``fsdd``, ``folder``, ``speechcommands``, ``gtzan``, ``esc50``, ``esc10``,
``urbansound8k``): their names and
aliases, the rate and clip length each is read at, and the layout each expects under its data root."""

from __future__ import annotations

from ..sources import dataset_name

DATASETS = ("tones", "fsdd", "folder", "speechcommands", "gtzan", "esc50", "esc10", "urbansound8k")
ALIASES = {"free-spoken-digit": "fsdd", "free_spoken_digit": "fsdd", "audiofolder": "folder", "audio-folder": "folder",
           "csv": "folder", "speech-commands": "speechcommands", "speech_commands": "speechcommands",
           "esc-50": "esc50", "esc_50": "esc50", "esc-10": "esc10", "esc_10": "esc10", "us8k": "urbansound8k",
           "urbansound": "urbansound8k", "urban-sound-8k": "urbansound8k", "urbansound-8k": "urbansound8k",
           "urban_sound_8k": "urbansound8k"}
#: (sample rate in Hz, clip length in seconds) a dataset is read at unless the config says otherwise;
#: None: the longest clip of the set. ESC-50's clips are 5 s at 44.1 kHz (its README, "Repository content");
#: UrbanSound8K's slices are up to 4 s at mixed rates, read at ESC-50's 44.1 kHz so the two sets' maps match
NATIVE: dict[str, tuple[int, float | None]] = {
    "tones": (8000, 0.5), "fsdd": (8000, 1.0), "folder": (16000, None), "speechcommands": (16000, 1.0), "gtzan": (22050, 30.0),
    "esc50": (44100, 5.0), "esc10": (44100, 5.0), "urbansound8k": (44100, 4.0),
}
LAYOUTS = {
    "fsdd": "ROOT/recordings.tar, ROOT/recordings/{digit}_{speaker}_{index}.wav or ROOT/{digit}_{speaker}_{index}.wav",
    "folder": "ROOT/<class>/<audio files> (or ROOT/train/<class>/..., ROOT/test/<class>/...) or a CSV file path,label[,split]",
    "speechcommands": "ROOT/SpeechCommands/speech_commands_v0.02/<word>/<file>.wav",
    "gtzan": "ROOT/genres/<genre>/<genre>.<5 digits>.wav",
    "esc50": "ROOT/ESC-50-master/audio/*.wav with ROOT/ESC-50-master/meta/esc50.csv (or ROOT/audio, ROOT/meta)",
    "esc10": "ROOT/ESC-50-master/audio/*.wav with ROOT/ESC-50-master/meta/esc50.csv (or ROOT/audio, ROOT/meta): its esc10 rows",
    "urbansound8k": "ROOT/UrbanSound8K/audio/fold1..fold10/*.wav with ROOT/UrbanSound8K/metadata/UrbanSound8K.csv "
                    "(or ROOT/audio, ROOT/metadata)",
}


def list_audio_datasets() -> list[str]:
    """The canonical names of the audio datasets the loader knows (:data:`DATASETS`, in order)."""
    return list(DATASETS)


def canonical_name(name: str) -> str:
    """The canonical dataset name of ``name`` (stripped, lower-cased, an alias resolved), or ``name`` itself (as spelt)
    when :func:`~.registered.register_tensors` registered it. ConfigError (key ``dataset``) for an unknown name, naming the
    closest names and the registered ones, or one that is not a string (:func:`~modalities.sources.dataset_name`)."""
    from ..in_memory import choices_words
    from .registered import registered_clips, registered_names

    if registered_clips(name) is not None:
        return str(name)
    return dataset_name(name, DATASETS, ALIASES, "audio", also=choices_words(registered_names()))
