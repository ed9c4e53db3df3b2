"""Fused Differential MFCC (FD-MFCC; DDFAD, Jiang et al. 2024): MFCC, delta and delta-delta as 3 channels.

A waveform (N, T) at ``sample_rate`` becomes a map (N, 3, n_mfcc, frames): pre-emphasis, 20 ms Hamming
frames every 10 ms, |FFT|^2, an HTK mel filter bank, power in dB (floored 80 dB below each clip's peak),
an orthonormal DCT-II keeping ``n_mfcc`` coefficients, then the first and second time derivatives
(torchaudio's ``compute_deltas``, regression over ``delta_win`` frames). Everything is a torch op, so the
transform is differentiable with respect to the waveform; the synthetic sets of the audio recipes live in
this feature space and are only turned back into sound for listening (:func:`fdmfcc_to_waveform`).

Defaults. DDFAD describes FD-MFCC as pre-emphasis, 20 ms frame blocking, windowing, FFT, mel filter bank,
log, DCT, first- and second-order differences and channel fusion; its text reachable here gives no other
numbers, so the rest is what a speech user expects: the Davis & Mermelstein / HTK front end of 13 cepstral
coefficients (39 features with the two deltas) from 40 mel bands, a 10 ms hop, pre-emphasis 0.97, a
5-frame delta regression window (HTK's ``DELTAWINDOW=2``) and a 0 Hz .. Nyquist band.

Normalisation uses statistics of the training split stored in the set's metadata (so a saved set decodes
without its data): per channel (MFCC, delta, delta-delta; one mean and standard deviation each), or per
channel and coefficient (global cepstral mean and variance normalisation), see :func:`feature_stats`.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from mmdistill.errors import ConfigError, DataError
from mmdistill.keys import key

log = logging.getLogger(__name__)
_EMPTY_BANDS_SAID: set[tuple[Any, ...]] = set()  # front ends whose empty mel bands were logged (once per process)

CHANNELS = ("MFCC", "delta", "delta-delta")


@dataclass
class FDMFCCKeys:
    """FD-MFCC features (DDFAD's fused MFCC, delta and delta-delta maps).

    The FD-MFCC settings other than the sample rate (shared by :class:`FDMFCCParams` and the audio
    recipes' configs, whose flags they become).

    Attributes:
        n_mfcc: cepstral coefficients kept (rows of each channel).
        n_mels: mel bands the DCT is taken over (>= n_mfcc).
        win_ms: frame (window) length in milliseconds; Hamming window.
        hop_ms: frame step in milliseconds.
        n_fft: FFT size; None takes the smallest power of two >= the window length.
        f_min, f_max: band of the mel filter bank in Hz (f_max None: the Nyquist frequency).
        preemphasis: coefficient a of y[t] = x[t] - a * x[t-1]; 0 disables it.
        delta_win: frames of the delta regression window (odd, >= 3).
        top_db: floor of the dB mel spectrogram below each clip's peak; None keeps the full range.
    """

    n_mfcc: int = key(13, help="cepstral coefficients kept (rows of each channel)", unit="coefficients", range="[1, inf)")
    n_mels: int = key(40, help="mel bands the DCT is taken over (>= n_mfcc)", unit="bands", range="[1, inf)")
    win_ms: float = key(20.0, help="frame (Hamming window) length", unit="ms", range="(0, inf)")
    hop_ms: float = key(10.0, help="step between frames (hop)", unit="ms", range="(0, inf)")
    n_fft: int | None = key(None, help="FFT size; none: the smallest power of two >= the window", unit="samples", range="[1, inf)")
    f_min: float = key(0.0, help="lowest frequency of the mel filter bank", unit="Hz", range="[0, inf)")
    f_max: float | None = key(None, help="highest frequency of the mel filter bank; none: the Nyquist frequency", unit="Hz",
                              range="(0, inf)")
    preemphasis: float = key(0.97, help="pre-emphasis coefficient a of y[t] = x[t] - a x[t-1] (0: off)", range="[0, 1)")
    delta_win: int = key(5, help="frames of the delta regression window (odd)", unit="frames", range="[3, inf)")
    top_db: float | None = key(80.0, help="floor of the dB mel spectrogram below each clip's peak; none: the full range", unit="dB",
                               range="(0, inf)")

    def feature_keys(self) -> dict[str, Any]:
        """These settings as a dict (the keys of :class:`FDMFCCKeys` only)."""
        return {f.name: getattr(self, f.name) for f in fields(FDMFCCKeys)}


#: analysis windows of :class:`FDMFCCParams` by name
WINDOWS: dict[str, Callable[..., Tensor]] = {"hamming": torch.hamming_window, "hann": torch.hann_window}


@dataclass
class FDMFCCParams(FDMFCCKeys):
    """How a waveform becomes an FD-MFCC map: :class:`FDMFCCKeys` at ``sample_rate`` Hz (validated)."""

    sample_rate: int = 16000
    #: the analysis window: Hamming (the FD-MFCC front end) or Hann (torchaudio's default, AVDD's log-mel)
    window: str = "hamming"

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ConfigError(f"window must be one of {', '.join(WINDOWS)}, got {self.window!r}")
        if self.sample_rate < 1000:
            raise ConfigError(f"sample_rate must be >= 1000 Hz, got {self.sample_rate}")
        if not 1 <= self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must lie in 1..n_mels ({self.n_mels}), got {self.n_mfcc}")
        if self.hop_ms <= 0 or self.win_ms <= 0:
            raise ConfigError(f"win_ms and hop_ms must be > 0, got {self.win_ms} and {self.hop_ms}")
        if self.hop_length < 1:
            raise ConfigError(f"hop_ms={self.hop_ms:g} is {self.hop_length} samples at {self.sample_rate} Hz; the hop must be at least "
                              f"1 sample: use hop_ms >= {1000.0 / self.sample_rate:g} at this rate", key="hop_ms")
        if self.win_length < 8:
            raise ConfigError(f"win_ms={self.win_ms:g} is only {self.win_length} samples at {self.sample_rate} Hz; the window must be at "
                              f"least 8 samples: use win_ms >= {8000.0 / self.sample_rate:g} at this rate", key="win_ms")
        if self.n_fft is not None and self.n_fft < self.win_length:
            raise ConfigError(f"n_fft ({self.n_fft}) must be >= the window length ({self.win_length} samples)")
        top = self.sample_rate / 2 if self.f_max is None else self.f_max
        if not 0 <= self.f_min < top <= self.sample_rate / 2:
            raise ConfigError(f"need 0 <= f_min < f_max <= sample_rate / 2 ({self.sample_rate / 2:g} Hz); got f_min {self.f_min}, "
                              f"f_max {self.f_max}")
        if not 0.0 <= self.preemphasis < 1.0:
            raise ConfigError(f"preemphasis must lie in [0, 1), got {self.preemphasis}")
        if self.delta_win < 3 or self.delta_win % 2 == 0:
            raise ConfigError(f"delta_win must be an odd number >= 3, got {self.delta_win}")
        if self.top_db is not None and self.top_db <= 0:
            raise ConfigError(f"top_db must be > 0 or None, got {self.top_db}")

    @property
    def win_length(self) -> int:
        """Window length in samples."""
        return int(round(self.sample_rate * self.win_ms / 1000.0))

    @property
    def hop_length(self) -> int:
        """Frame step in samples."""
        return int(round(self.sample_rate * self.hop_ms / 1000.0))

    @property
    def window_fn(self) -> Callable[..., Tensor]:
        """The torch window function of :attr:`window`."""
        return WINDOWS[self.window]

    @property
    def fft_size(self) -> int:
        """FFT length in samples: ``n_fft``, else the window length rounded up to a power of two."""
        return self.n_fft or 2 ** math.ceil(math.log2(self.win_length))

    def frames(self, num_samples: int) -> int:
        """Frames of a clip of ``num_samples`` samples (centred frames: 1 + num_samples // hop)."""
        return 1 + num_samples // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """The parameters as stored in a set's or buffer's meta (and compared as the data's preprocessing); ``window``
        only when it is not the FD-MFCC's Hamming, so settings recorded before the field existed compare equal."""
        out = asdict(self)
        if out["window"] == "hamming":
            del out["window"]
        return out

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "FDMFCCParams":
        """The parameters stored by :meth:`to_dict` (unknown keys are an error naming them)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown FD-MFCC parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**dict(values))


class FDMFCC(nn.Module):
    """Waveforms (N, T) (or (T,)) -> FD-MFCC maps (N, 3, n_mfcc, 1 + T // hop) (or (3, n_mfcc, frames)).

    Differentiable with respect to the input. Each clip is processed on its own (the dB floor is relative
    to that clip's peak), so a batch gives the same maps as clips one at a time.

    >>> import torch
    >>> maps = FDMFCC(FDMFCCParams(sample_rate=16000))(torch.rand(2, 16000) * 2 - 1)  # 1 s at 16 kHz, hop 10 ms
    >>> maps.shape, maps.dtype
    (torch.Size([2, 3, 13, 101]), torch.float32)
    """

    def __init__(self, params: FDMFCCParams | None = None) -> None:
        super().__init__()
        import torchaudio

        self.params = p = params or FDMFCCParams()
        with warnings.catch_warnings():  # torchaudio's warning of empty mel bands: logged below with the counts
            warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
            self.mfcc = torchaudio.transforms.MFCC(
                sample_rate=p.sample_rate, n_mfcc=p.n_mfcc, dct_type=2, norm="ortho", log_mels=False,
                melkwargs=dict(n_fft=p.fft_size, win_length=p.win_length, hop_length=p.hop_length, f_min=p.f_min,
                               f_max=p.f_max, n_mels=p.n_mels, window_fn=p.window_fn, power=2.0, center=True,
                               pad_mode="reflect", mel_scale="htk"),
            )
        self.mfcc.amplitude_to_DB.top_db = p.top_db
        empty = int((self.mfcc.MelSpectrogram.mel_scale.fb.amax(dim=0) == 0).sum())  # fb: (fft_size // 2 + 1, n_mels)
        said = (p.n_mels, p.fft_size, p.sample_rate, p.f_min, p.f_max)
        if empty and said not in _EMPTY_BANDS_SAID:
            _EMPTY_BANDS_SAID.add(said)
            log.info("%d of %d mel bands hold no FFT bin (an FFT of %d samples gives %d bins at %d Hz): those rows of every "
                     "map are constant; fewer mel bands or a longer FFT avoid it (AVDD's 128 bands on its FFT of 400 have "
                     "the same)", empty, p.n_mels, p.fft_size, p.fft_size // 2 + 1, p.sample_rate)

    def forward(self, wave: Tensor) -> Tensor:
        """FD-MFCC maps of ``wave``: float amplitudes in [-1, 1] at ``params.sample_rate`` Hz, (N, T) or (T,) ->
        (N, 3, n_mfcc, 1 + T // hop) or (3, n_mfcc, frames) in the module's dtype (float32): the MFCC of the dB mel
        spectrogram (floored ``top_db`` below the clip's peak) and its first and second time derivatives; not
        normalised (a set's ``ds.x`` is: :func:`~mmdistill.modalities.audio.maps_like`). DataError for input that is
        no float tensor, not 1-D or 2-D, or not longer than half an FFT frame."""
        import torchaudio.functional as AF

        if not isinstance(wave, Tensor):
            raise DataError(f"FD-MFCC takes a torch.Tensor of waveforms, got {type(wave).__name__} (torch.from_numpy converts an array)")
        if not wave.is_floating_point():
            raise DataError(f"FD-MFCC takes float waveforms with amplitudes in [-1, 1], got dtype {wave.dtype} "
                            "(int16 PCM: pcm.float() / 32768)")
        fb = self.mfcc.MelSpectrogram.mel_scale.fb
        if wave.dtype != fb.dtype:  # float64 from numpy / librosa: the filter bank's dtype (differentiable cast)
            wave = wave.to(fb.dtype)
        single = wave.dim() == 1
        x = wave[None] if single else wave
        if x.dim() != 2:
            raise DataError(f"FD-MFCC takes waveforms of shape (N, T) or (T,), got {tuple(wave.shape)}")
        if x.shape[-1] <= self.params.fft_size // 2:  # the reflect padding of the centred frames needs more
            raise DataError(f"FD-MFCC needs waveforms longer than half an FFT frame ({self.params.fft_size // 2} samples at "
                            f"{self.params.sample_rate} Hz), got {x.shape[-1]} samples")
        if self.params.preemphasis > 0:
            x = AF.preemphasis(x, self.params.preemphasis)
        # (N, 1, T): torchaudio floors the dB scale per leading "channel" group, so one clip per group
        mfcc = self.mfcc(x[:, None, :])[:, 0]  # (N, n_mfcc, frames)
        out = fuse_deltas(mfcc, self.params.delta_win)
        return out[0] if single else out


def fuse_deltas(mfcc: Tensor, delta_win: int) -> Tensor:
    """MFCC (N, n_mfcc, frames) in FD-MFCC units -> (N, 3, n_mfcc, frames): the MFCC stacked with its first
    and second time derivatives (torchaudio's ``compute_deltas`` over ``delta_win`` frames, applied twice)."""
    import torchaudio.functional as AF

    d1 = AF.compute_deltas(mfcc, win_length=delta_win)
    return torch.stack([mfcc, d1, AF.compute_deltas(d1, win_length=delta_win)], dim=1)


@torch.no_grad()
def extract_fdmfcc(waves: Tensor, params: FDMFCCParams, batch_size: int = 512, transform: FDMFCC | None = None) -> Tensor:
    """FD-MFCC maps (N, 3, n_mfcc, frames) of waveforms (N, T), computed ``batch_size`` clips at a time.
    DataError naming the rows of a waveform with NaN or infinite samples."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    if waves.dim() != 2:
        raise DataError(f"extract_fdmfcc takes waveforms of shape (N, T), got {tuple(waves.shape)}")
    bad = (~torch.isfinite(waves)).any(dim=1).nonzero().flatten().tolist()
    if bad:
        raise DataError(f"{len(bad)} waveform(s) hold NaN or infinite samples: rows {bad[:10]}{' ...' if len(bad) > 10 else ''}")
    transform = transform or FDMFCC(params)
    if waves.shape[0] == 0:
        return torch.empty(0, 3, params.n_mfcc, params.frames(waves.shape[-1]))
    return torch.cat([transform(waves[i : i + batch_size].float()) for i in range(0, waves.shape[0], batch_size)])


NORMALIZATIONS = ("channel", "coefficient")


def feature_stats(maps: Tensor, per: str = "channel") -> tuple[list, list]:
    """Mean and standard deviation (>= 1e-6) of maps (N, C, F, T): per channel (``per="channel"``: two
    lists of C floats) or per channel and coefficient row (``"coefficient"``: two C x F nested lists)."""
    if per not in NORMALIZATIONS:
        raise ConfigError(f"normalize must be one of {NORMALIZATIONS}, got {per!r}")
    dims = (0, 2, 3) if per == "channel" else (0, 3)
    x = maps.double()
    return x.mean(dim=dims).tolist(), x.std(dim=dims).clamp_min(1e-6).tolist()


def _stat(values, like: Tensor) -> Tensor:
    """Normalisation values (C,) or (C, F) as a tensor broadcasting over maps (..., C, F, T)."""
    t = torch.tensor(values, dtype=like.dtype, device=like.device)
    if t.dim() not in (1, 2) or t.shape[0] != like.shape[-3] or (t.dim() == 2 and t.shape[1] != like.shape[-2]):
        raise DataError(f"normalisation values of shape {tuple(t.shape)} do not fit maps with (channels, coefficients) "
                        f"{tuple(like.shape[-3:-1])}")
    return t.view(t.shape[0], -1, 1)


def normalize(maps: Tensor, mean: Sequence[float] | Sequence[Sequence[float]],
              std: Sequence[float] | Sequence[Sequence[float]]) -> Tensor:
    """``(maps - mean) / std`` for maps (..., C, F, T), per channel (C values) or per coefficient (C x F)."""
    return (maps - _stat(mean, maps)) / _stat(std, maps)


def denormalize(maps: Tensor, mean: Sequence[float] | Sequence[Sequence[float]],
                std: Sequence[float] | Sequence[Sequence[float]]) -> Tensor:
    """``maps * std + mean``: normalised maps (..., C, F, T) back to FD-MFCC units."""
    return maps * _stat(std, maps) + _stat(mean, maps)


def fdmfcc_from_mfcc(mfcc: Tensor, mean: Sequence[float] | Sequence[Sequence[float]],
                     std: Sequence[float] | Sequence[Sequence[float]], delta_win: int) -> Tensor:
    """Normalised FD-MFCC maps (N, 3, F, T) whose delta channels are derived from a normalised MFCC channel
    (N, F, T): de-normalise it, take ``compute_deltas`` twice (as :class:`FDMFCC` does), normalise the three
    channels with ``mean``/``std`` (C or C x F values, :func:`feature_stats`). Differentiable in ``mfcc``; the
    MFCC channel of the result equals ``mfcc`` up to rounding."""
    if mfcc.dim() != 3:
        raise DataError(f"expected an MFCC channel of shape (N, n_mfcc, frames), got {tuple(mfcc.shape)}")
    like = mfcc[:, None].expand(-1, len(CHANNELS), -1, -1)
    raw = mfcc * _stat(std, like)[0] + _stat(mean, like)[0]
    return normalize(fuse_deltas(raw, delta_win), mean, std)


def mfcc_to_mel_db(mfcc: Tensor, params: FDMFCCParams) -> Tensor:
    """The mel spectrogram in dB (..., n_mels, frames) whose orthonormal DCT-II gives ``mfcc`` (..., n_mfcc,
    frames); the cepstral coefficients beyond ``n_mfcc`` are taken as 0 (a smoothed spectral envelope)."""
    import torchaudio.functional as AF

    dct = AF.create_dct(params.n_mfcc, params.n_mels, "ortho").to(mfcc)  # (n_mels, n_mfcc), orthonormal columns
    return torch.einsum("mk,...kt->...mt", dct, mfcc)


@torch.no_grad()
def fdmfcc_to_waveform(maps: Tensor, params: FDMFCCParams, num_samples: int | None = None, n_iter: int = 32) -> Tensor:
    """An approximate waveform (N, num_samples) for FD-MFCC maps (N, 3, n_mfcc, frames) in FD-MFCC units.

    MFCC channel -> dB mel spectrogram (inverse DCT) -> power -> linear-frequency power (non-negative least
    squares through the mel filter bank, torchaudio's ``InverseMelScale``) -> magnitude -> Griffin-Lim
    (``n_iter`` iterations from a zero phase, so the result is deterministic) -> de-emphasis. The delta channels are not used (they are
    derivatives of the first). Each clip is scaled to a peak of 0.9 (the level of a distilled map is
    arbitrary). For listening, not for training.
    """
    import torchaudio

    if maps.dim() != 4 or maps.shape[1] != 3 or maps.shape[2] != params.n_mfcc:
        raise DataError(f"expected FD-MFCC maps of shape (N, 3, {params.n_mfcc}, frames), got {tuple(maps.shape)}")
    maps = torch.nan_to_num(maps.detach().float().cpu())
    frames = maps.shape[-1]
    length = num_samples if num_samples is not None else (frames - 1) * params.hop_length
    power = torch.pow(10.0, mfcc_to_mel_db(maps[:, 0], params).clamp(-200.0, 200.0) / 10.0)
    inv_mel = torchaudio.transforms.InverseMelScale(
        n_stft=params.fft_size // 2 + 1, n_mels=params.n_mels, sample_rate=params.sample_rate, f_min=params.f_min,
        f_max=params.f_max, mel_scale="htk", driver="gelsd",
    )
    magnitude = inv_mel(power).clamp_min(0.0).sqrt()
    griffin_lim = torchaudio.transforms.GriffinLim(
        n_fft=params.fft_size, n_iter=n_iter, win_length=params.win_length, hop_length=params.hop_length,
        window_fn=params.window_fn, power=1.0, length=length, rand_init=False,
    )
    wave = griffin_lim(magnitude)
    if params.preemphasis > 0:  # deemphasis, y[n] = x[n] + a * y[n-1], without torchaudio's clamp to [-1, 1]: a distilled
        # map's waveform is louder than a real one's, and the clamp made it a square wave before the peak scaling below
        a = torch.tensor([1.0, -params.preemphasis], dtype=wave.dtype)
        wave = torchaudio.functional.lfilter(wave, a, torch.tensor([1.0, 0.0], dtype=wave.dtype), clamp=False)
    peak = wave.abs().amax(dim=-1, keepdim=True).clamp_min(1e-9)
    return torch.nan_to_num(wave / peak * 0.9)


__all__ = [
    "CHANNELS", "FDMFCC", "FDMFCCParams", "NORMALIZATIONS", "WINDOWS", "feature_stats", "denormalize", "extract_fdmfcc", "fdmfcc_from_mfcc", "fdmfcc_to_waveform",
    "fuse_deltas", "mfcc_to_mel_db", "normalize",
]
