"""`HiFT`: the CosyVoice 2 vocoder, mel ``[B, 80, T]`` -> 24 kHz waveform ``[B, T * 480]``.

Batched: B mels of different lengths padded into one forward pass, each item's samples equal
to running it alone. Three things make that hold at an item's end, where a padded batch
differs from a lone run: every conv input of the decoder is zeroed beyond the item's length
(a lone run's conv pads with zeros there); the F0, the source (its sines' phase is a running
sum, interpolated up to the item's last frame) and the source's STFT (reflect-padded at the
item's end) are made per item; and the inverse STFT, whose overlap-add normalises by the
windows that reach each sample, runs per item.

Streaming: `HiFT.start_stream` gives a `HiFTStream` (one request's state) and
`HiFT.stream_step` vocodes the next mel chunk the official way: the last 8 mel frames are
vocoded again with the next chunk, the source of those frames is reused so the sines go on in
phase, and the output's last 8 x 480 samples are held back and cross-faded (Hamming) with the
next chunk's first ones.

The official ``hift.pt`` keeps its convs weight-normalised: ``weight_g``/``weight_v`` (torch's
old ``weight_norm``) or ``parametrizations.weight.original0``/``original1`` (the new one).
`from_reference_state` folds either into plain weights, the same once and for all at
inference; `reference_key_map` lists how the remaining names map onto ours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from audiotok.errors import AudiotokError
from models.tts.cosyvoice2.hift_config import HiFTConfig
from models.tts.cosyvoice2.hift_source import F0Predictor, HarmonicSource, masked

# weight-norm key pairs (magnitude g, direction v) -> the folded weight
NEW_NORM = (".parametrizations.weight.original0", ".parametrizations.weight.original1")
OLD_NORM = (".weight_g", ".weight_v")
_Item = TypeVar("_Item")
GENERATOR_PREFIX = "generator."  # HiFi-GAN training checkpoints nest the generator so
RENAMES = (  # reference name pattern -> ours (every other name is the same)
    (re.compile(r"^m_source\.l_linear\."), "source.merge."),
    (re.compile(r"^f0_predictor\.condnet\.(\d+)\."), "f0_predictor.convs.{half}."),
)


class HiFTOutput(NamedTuple):
    """Attributes:
    wave: ``[B, T * hop]``, zero beyond each item's length.
    source: the excitation the wave was made from ``[B, 1, T * hop]`` (streaming reuses it).
    """

    wave: torch.Tensor
    source: torch.Tensor


class Snake(nn.Module):
    """``x + sin^2(alpha x) / alpha`` with a learnt ``alpha`` per channel: ``[B, C, T]``."""

    def __init__(self, channels: int, epsilon: float) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))
        self.epsilon = epsilon

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.alpha.view(1, -1, 1)
        return x + (1.0 / (alpha + self.epsilon)) * torch.sin(x * alpha).pow(2)


class ResBlock(nn.Module):
    """Dilated residual convs with Snake activations, length-preserving: ``[B, C, T]``."""

    def __init__(
        self, channels: int, kernel: int, dilations: Sequence[int], epsilon: float
    ) -> None:
        super().__init__()

        def conv(dilation: int) -> nn.Conv1d:
            padding = (kernel - 1) * dilation // 2
            return nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=padding)

        self.convs1 = nn.ModuleList(conv(d) for d in dilations)
        self.convs2 = nn.ModuleList(conv(1) for _ in dilations)
        self.activations1 = nn.ModuleList(Snake(channels, epsilon) for _ in dilations)
        self.activations2 = nn.ModuleList(Snake(channels, epsilon) for _ in dilations)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        layers = zip(self.activations1, self.convs1, self.activations2, self.convs2, strict=True)
        for act1, conv1, act2, conv2 in layers:
            inner = conv1(masked(act1(x), mask))
            x = conv2(masked(act2(inner), mask)) + x
        return x


class HiFT(nn.Module):
    """The vocoder (see the module docstring); build with a config or `from_reference_state`."""

    stft_window: torch.Tensor
    fade_window: torch.Tensor

    def __init__(self, config: HiFTConfig) -> None:
        super().__init__()
        self.config = config
        self.f0_predictor = F0Predictor(config)
        self.source = HarmonicSource(config)
        self.conv_pre = nn.Conv1d(
            config.in_channels,
            config.base_channels,
            config.pre_kernel,
            padding=config.pre_kernel // 2,
        )
        self.ups = nn.ModuleList(
            nn.ConvTranspose1d(
                config.base_channels // 2**stage,
                config.stage_channels(stage),
                kernel,
                rate,
                padding=(kernel - rate) // 2,
            )
            for stage, (rate, kernel) in enumerate(
                zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True)
            )
        )
        self.source_downs = nn.ModuleList(
            _source_down(config, stage) for stage in range(len(config.upsample_rates))
        )
        self.source_resblocks = nn.ModuleList(
            ResBlock(config.stage_channels(stage), kernel, dilations, config.snake_epsilon)
            for stage, (kernel, dilations) in enumerate(
                zip(
                    config.source_resblock_kernel_sizes,
                    config.source_resblock_dilation_sizes,
                    strict=True,
                )
            )
        )
        self.resblocks = nn.ModuleList(
            ResBlock(config.stage_channels(stage), kernel, dilations, config.snake_epsilon)
            for stage in range(len(config.upsample_rates))
            for kernel, dilations in zip(
                config.resblock_kernel_sizes, config.resblock_dilation_sizes, strict=True
            )
        )
        last = config.stage_channels(len(config.upsample_rates) - 1)
        self.conv_post = nn.Conv1d(
            last, 2 * config.frequency_bins, config.post_kernel, padding=config.post_kernel // 2
        )
        # periodic Hann as the official code makes it (float64, then float32)
        window = torch.hann_window(config.n_fft, periodic=True, dtype=torch.float64)
        self.register_buffer("stft_window", window.float(), persistent=False)
        overlap = config.stream_cache_frames * config.hop
        fade = torch.hamming_window(2 * overlap, periodic=False, dtype=torch.float64)
        self.register_buffer("fade_window", fade, persistent=False)

    @torch.inference_mode()
    def forward(
        self,
        mel: torch.Tensor,
        lengths: torch.Tensor | None = None,
        generators: Sequence[torch.Generator] | None = None,
        cache_sources: Sequence[torch.Tensor | None] | None = None,
    ) -> HiFTOutput:
        """Vocode a batch.

        Args:
            mel: ``[B, C, T]`` log-mel (the flow's output), padded after each item's length.
            lengths: valid frames of each item ``[B]`` (None: all ``T``).
            generators: one per item, for the source's random draws (None: a fresh
                ``torch.Generator`` each, at torch's fixed default seed).
            cache_sources: per item, None or a source ``[S]`` (``S <= length * hop``) that
                replaces the first ``S`` samples of its new source (streaming continuation).

        Returns:
            `HiFTOutput`: ``wave`` ``[B, T * hop]`` and ``source`` ``[B, 1, T * hop]``.

        Raises:
            AudiotokError: inputs of the wrong shape, lengths out of range, or lists of the
                wrong size.
        """
        mel = mel.to(self.conv_pre.weight.dtype)
        batch, frames = self._check_mel(mel)
        lengths = self._lengths(lengths, batch, frames, mel.device)
        generators = _per_item(generators, batch, "generators") or [
            torch.Generator(mel.device) for _ in range(batch)
        ]
        cache_sources = _per_item(cache_sources, batch, "cache_sources") or [None] * batch
        if frames == 0:  # no samples (the convs would refuse an empty input)
            empty = mel.new_zeros(batch, 0)
            return HiFTOutput(empty, empty[:, None])
        ragged = bool((lengths != frames).any())
        sources = [
            self._item_source(self._item_f0(mel[b, :, : int(n)]), generators[b], cache_sources[b])
            for b, n in enumerate(lengths)
        ]
        spectra = self._spectra(sources, frames)  # [B, 2F, T * frames_per_mel + 1]
        waves = self._decode(mel, spectra, lengths if ragged else None)
        return HiFTOutput(
            torch.stack([_pad(w, frames * self.config.hop) for w in waves]),
            torch.stack([_pad(s, frames * self.config.hop) for s in sources])[:, None],
        )

    def synthesize(
        self,
        mel: torch.Tensor,
        lengths: torch.Tensor | None = None,
        generators: Sequence[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """`forward`'s waveform alone: ``[B, C, T]`` -> ``[B, T * hop]`` (what the synthesis
        pipeline keeps; the source only matters to streaming)."""
        return self(mel, lengths, generators).wave

    def _check_mel(self, mel: torch.Tensor) -> tuple[int, int]:
        if mel.dim() != 3 or mel.shape[1] != self.config.in_channels:
            raise AudiotokError(
                f"HiFT: mel must be [B, {self.config.in_channels}, T], got {list(mel.shape)}"
            )
        return mel.shape[0], mel.shape[2]

    @staticmethod
    def _lengths(
        lengths: torch.Tensor | None, batch: int, frames: int, device: torch.device
    ) -> torch.Tensor:
        if lengths is None:
            return torch.full((batch,), frames, dtype=torch.long, device=device)
        given = torch.as_tensor(lengths, device=device)
        counts = given.long()
        if (
            given.shape != (batch,)
            or bool((counts != given).any())  # 2.5 frames: not a count (long() would floor it)
            or bool(((counts < 0) | (counts > frames)).any())
        ):
            raise AudiotokError(
                f"HiFT: lengths must be {batch} frame counts in [0, {frames}], got {given.tolist()}"
            )
        return counts

    def _item_f0(self, mel: torch.Tensor) -> torch.Tensor:
        """One item's F0 ``[n]`` from its own frames ``[C, n]``, as a lone run predicts it.

        Per item, not batched: the source's phase is a running sum over every sample, so the
        few ulps by which a batched conv's F0 differs grow into a phase drift (3e-5 in the
        source, 6e-4 in the wave after 1.3 s at test weights) that no masking removes.
        """
        if mel.shape[1] == 0:
            return mel.new_zeros(0)
        # contiguous: laid out as a lone run's input, so the conv takes the same path
        return self.f0_predictor(mel.contiguous()[None])[0]

    def _item_source(
        self, f0: torch.Tensor, generator: torch.Generator, cache: torch.Tensor | None
    ) -> torch.Tensor:
        """One item's excitation ``[length * hop]``, its start replaced by ``cache``."""
        source = self.source(f0, generator)
        if cache is not None and cache.numel():
            cache = cache.reshape(-1)
            if cache.numel() > source.numel():
                raise AudiotokError(
                    f"HiFT: a cached source of {cache.numel()} samples is longer than the "
                    f"{source.numel()} samples of its mel"
                )
            source[: cache.numel()] = cache.to(source)
        return source

    def _spectra(self, sources: list[torch.Tensor], frames: int) -> torch.Tensor:
        """Real and imaginary STFT of each source, zero-padded: ``[B, 2F, frames * r + 1]``."""
        config = self.config
        width = frames * config.spectral_frames_per_mel_frame + 1
        reference = self.conv_pre.weight
        spectra = reference.new_zeros(len(sources), 2 * config.frequency_bins, width)
        for b, source in enumerate(sources):
            if source.numel() == 0:
                continue
            spectrum = torch.stft(
                source,
                config.n_fft,
                config.istft_hop,
                config.n_fft,
                window=self.stft_window,
                return_complex=True,
            )  # [F, N]
            both = torch.cat([spectrum.real, spectrum.imag], dim=0)
            spectra[b, :, : both.shape[1]] = both
        return spectra

    def _decode(
        self, mel: torch.Tensor, spectra: torch.Tensor, lengths: torch.Tensor | None
    ) -> list[torch.Tensor]:
        """Mel ``[B, C, T]`` and source spectra -> each item's waveform ``[length * hop]``.

        ``lengths`` None: every item is ``T`` frames long (no masking needed).
        """
        config = self.config
        frames = mel.shape[2]
        full = torch.full((mel.shape[0],), frames, device=mel.device, dtype=torch.long)
        valid = full if lengths is None else lengths  # frames at the current rate
        mask = None if lengths is None else _mask(valid, frames)
        x = self.conv_pre(masked(mel, mask))
        stages = len(config.upsample_rates)
        for stage, rate in enumerate(config.upsample_rates):
            x = F.leaky_relu(x, config.lrelu_slope)
            x = self.ups[stage](masked(x, mask))
            valid = valid * rate
            if stage == stages - 1:
                # one more frame on the left, so the frames match the source's STFT
                x = F.pad(x, (1, 0), mode="reflect")
                valid = valid + 1
            mask = None if lengths is None else _mask(valid, x.shape[2])
            x = x + self.source_resblocks[stage](self.source_downs[stage](spectra), mask)
            x = self._resblock_mean(x, stage, mask)
        x = F.leaky_relu(x, config.post_lrelu_slope)
        x = self.conv_post(masked(x, mask))
        return [self._istft(x[b, :, : int(valid[b])]) for b in range(x.shape[0])]

    def _resblock_mean(
        self, x: torch.Tensor, stage: int, mask: torch.Tensor | None
    ) -> torch.Tensor:
        count = len(self.config.resblock_kernel_sizes)
        blocks = self.resblocks[stage * count : (stage + 1) * count]
        total = blocks[0](x, mask)
        for block in blocks[1:]:
            total = total + block(x, mask)
        return total / count

    def _istft(self, x: torch.Tensor) -> torch.Tensor:
        """Log-magnitudes and phases ``[2F, N]`` -> waveform ``[(N - 1) * hop]``."""
        config = self.config
        if x.shape[1] <= 1:
            return x.new_zeros(0)
        bins = config.frequency_bins
        magnitude = torch.clip(torch.exp(x[:bins]), max=config.max_magnitude)
        # the net's phase output goes through a sine, as in training (a bounded angle)
        phase = torch.sin(x[bins:])
        spectrum = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        wave = torch.istft(
            spectrum, config.n_fft, config.istft_hop, config.n_fft, window=self.stft_window
        )
        return torch.clamp(wave, -config.audio_limit, config.audio_limit)

    # streaming

    def start_stream(self, generator: torch.Generator | None = None) -> HiFTStream:
        """A new request's streaming state (``generator``: its random draws; None: a fresh
        one at torch's fixed default seed)."""
        return HiFTStream(generator or torch.Generator(self.conv_pre.weight.device))

    def stream_step(self, state: HiFTStream, mel: torch.Tensor, last: bool) -> torch.Tensor:
        """The next piece of a request's waveform, from its next mel chunk ``[1, C, n]``.

        Not ``last``: returns ``[1, samples]`` and holds the final ``cache_frames x hop``
        samples back for the cross-fade; ``last``: returns everything left. The first chunk
        that is not the last needs at least ``stream_cache_frames`` frames.

        Raises:
            AudiotokError: the stream has ended, a chunk of the wrong shape, or a first chunk
                too short to hold back the cross-fade.
        """
        config = self.config
        if state.finished:
            raise AudiotokError("HiFT stream: a step after the last one")
        self._check_mel(mel)
        if mel.shape[0] != 1:
            raise AudiotokError(f"HiFT stream: one request a stream, got a batch of {len(mel)}")
        if state.mel_cache is not None:
            mel = torch.cat([state.mel_cache, mel.to(state.mel_cache)], dim=2)
        if not last and mel.shape[2] < config.stream_cache_frames:
            raise AudiotokError(
                f"HiFT stream: the first chunk needs {config.stream_cache_frames} mel frames "
                f"unless it is the last, got {mel.shape[2]}"
            )
        wave, source = self(mel, generators=[state.generator], cache_sources=[state.source_cache])
        wave = wave[0]
        if state.tail is not None:
            wave = self._cross_fade(wave, state.tail)
        if last:
            state.finished = True
            return wave[None]
        overlap = config.stream_cache_frames * config.hop
        state.mel_cache = mel[:, :, -config.stream_cache_frames :]
        state.source_cache = source[0, 0, -overlap:]
        state.tail = wave[-overlap:]
        return wave[None, :-overlap]

    def _cross_fade(self, wave: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        """The first samples of ``wave`` faded in over the held-back ``tail`` fading out (in
        float64, as the official code's numpy window makes it)."""
        overlap = tail.shape[0]
        window = self.fade_window.to(wave.device)
        mixed = wave[:overlap].double() * window[:overlap] + tail.double() * window[overlap:]
        return torch.cat([mixed.to(wave.dtype), wave[overlap:]])

    # loading

    def reference_state(self) -> dict[str, torch.Tensor]:
        """The weights under the official names, plain (``from_reference_state`` reads them
        back)."""
        return {reference_name(key): value for key, value in self.state_dict().items()}

    @classmethod
    def from_reference_state(cls, state: dict[str, torch.Tensor], config: HiFTConfig) -> HiFT:
        """Build from an official ``hift.pt`` state dict (either weight-norm key form, or
        plain weights; a ``generator.`` prefix is dropped). Strict: every key is used.

        Raises:
            ValueError: keys missing or unexpected, or shapes that do not fit ``config`` (the
                message names them).
        """
        model = cls(config)
        mapped, unpaired = reference_key_map(state)
        try:
            missing, unexpected = model.load_state_dict(mapped, strict=False)
        except RuntimeError as error:
            raise ValueError(f"HiFT state dict does not fit the config: {error}") from error
        missing = sorted(set(missing) | set(unpaired))
        if missing or unexpected:
            raise ValueError(
                "HiFT state dict does not fit the config: "
                f"missing {missing[:8]}, unexpected {sorted(unexpected)[:8]}"
            )
        return model.eval()


@dataclass
class HiFTStream:
    """One request's streaming state.

    Attributes:
        generator: the request's random draws.
        mel_cache: the last mel frames, vocoded again with the next chunk ``[1, C, cache]``.
        source_cache: the source of those frames ``[cache * hop]``.
        tail: the held-back end of the output ``[cache * hop]``, cross-faded next.
        finished: the last step has been made.
    """

    generator: torch.Generator
    mel_cache: torch.Tensor | None = None
    source_cache: torch.Tensor | None = None
    tail: torch.Tensor | None = None
    finished: bool = False


def reference_key_map(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Official ``hift.pt`` keys -> `HiFT` keys, weight norm folded.

    Returns:
        The mapped state, and the names of weight-norm halves whose other half is absent.
    """
    state = {
        key.removeprefix(GENERATOR_PREFIX) if key.startswith(GENERATOR_PREFIX) else key: value
        for key, value in state.items()
    }
    folded, unpaired = fold_weight_norm(state)
    return {_rename(key): value for key, value in folded.items()}, unpaired


def fold_weight_norm(
    state: dict[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Each weight-norm pair ``(g, v)`` (either key form) -> ``weight = g * v / |v|``, the
    norm over every dim but the first (``weight_norm``'s default ``dim=0``).

    Returns:
        The state with plain ``.weight`` keys, and the expected names of absent halves.
    """
    out: dict[str, torch.Tensor] = {}
    unpaired: list[str] = []
    for key, value in state.items():
        form = next((f for f in (NEW_NORM, OLD_NORM) if key.endswith(f)), None)
        if form is None:
            out[key] = value
            continue
        base = key[: -len(form[0])] if key.endswith(form[0]) else key[: -len(form[1])]
        magnitude, direction = state.get(base + form[0]), state.get(base + form[1])
        if magnitude is None or direction is None:
            unpaired.append(base + (form[0] if magnitude is None else form[1]))
            continue
        out[base + ".weight"] = _folded(magnitude, direction)
    return out, unpaired


def _folded(magnitude: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    # torch's own kernel behind both weight_norm forms: the weights come out bit for bit as
    # the official modules compute them at every call (a reordered norm moves them by an ulp,
    # and the output's exp-magnitudes make that visible)
    dtype = direction.dtype
    return torch._weight_norm(direction.float(), magnitude.float(), 0).to(dtype)


def reference_name(key: str) -> str:
    """A `HiFT` key -> the official ``hift.pt``'s (plain weights: no weight norm)."""
    if key.startswith("source.merge."):
        return "m_source.l_linear." + key[len("source.merge.") :]
    match = re.match(r"^f0_predictor\.convs\.(\d+)\.", key)
    if match:
        return f"f0_predictor.condnet.{2 * int(match.group(1))}." + key[match.end() :]
    return key


def _rename(key: str) -> str:
    for pattern, replacement in RENAMES:
        match = pattern.match(key)
        if match:
            # the official conv stack interleaves ELUs: its convs are at even indices
            groups = {"half": int(match.group(1)) // 2} if match.groups() else {}
            return replacement.format(**groups) + key[match.end() :]
    return key


def _source_down(config: HiFTConfig, stage: int) -> nn.Conv1d:
    """The conv taking the source's STFT down to stage ``stage``'s rate (the product of the
    later stages' upsampling rates)."""
    rate = 1
    for later in config.upsample_rates[stage + 1 :]:
        rate *= later
    inputs, outputs = 2 * config.frequency_bins, config.stage_channels(stage)
    if rate == 1:
        return nn.Conv1d(inputs, outputs, 1)
    return nn.Conv1d(inputs, outputs, 2 * rate, rate, padding=rate // 2)


def _mask(valid: torch.Tensor, width: int) -> torch.Tensor:
    """``[B, 1, width]``: 1 where the position is below the item's ``valid`` count."""
    positions = torch.arange(width, device=valid.device)
    return (positions[None] < valid[:, None]).unsqueeze(1).float()


def _pad(x: torch.Tensor, width: int) -> torch.Tensor:
    return F.pad(x, (0, width - x.shape[-1]))


def _per_item(items: Sequence[_Item] | None, batch: int, name: str) -> list[_Item]:
    """``items`` as a list of ``batch`` entries (None: an empty list)."""
    if items is None:
        return []
    if len(items) != batch:
        raise AudiotokError(f"HiFT: {name} needs one entry per item ({batch}), got {len(items)}")
    return list(items)
