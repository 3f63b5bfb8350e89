"""`FlowSampler`: conditional flow matching at inference (CosyVoice 2's ``CausalConditionalCFM``):
fixed noise -> mel, by Euler steps along the `CausalEstimator`'s vector field.

The noise is not drawn per call: one ``[1, M, noise_frames]`` tensor is drawn once from a
generator seeded with ``noise_seed`` (the same numbers as the reference's
``torch.manual_seed(0); torch.randn(...)``, without touching the global generator), and a
sequence's frame ``i`` always starts from its column ``i``, whatever the batch or the piece.

Each step evaluates the field twice, as one batch of ``2B``: with the conditions (``mu``, the
speaker vector, the prompt mel) and with all three zeroed, and moves along
``(1 + cfg_rate) * conditional - cfg_rate * unconditional`` (classifier-free guidance). The
times follow ``1 - cos(pi / 2 * s)`` over ``steps`` even steps of ``s`` (``cosine``), with the
reference's own accumulation of ``t`` and ``dt``.

Streaming (`start_stream` / `stream_step`) runs the steps on each new piece only; the state
(`SamplerStream`) holds an `EstimatorMemory` per step, both guidance branches in its batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from audiotok.errors import AudiotokError
from models.tts.cosyvoice2.flow_estimator import CACHE_KINDS, CausalEstimator, EstimatorMemory

SCHEDULES = ("cosine", "linear")

Field = Callable[
    [int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor
]
"""``(step, x, mu, t, spks, cond) -> dx/dt`` on a guidance batch of ``2B``."""


class FlowSamplerError(AudiotokError, ValueError):
    """A bad setting, inputs of the wrong shape or length, or a stream fed against its
    contract."""


@dataclass(frozen=True)
class CFMConfig:
    """Every setting of the sampler (defaults: the official CosyVoice2-0.5B).

    Attributes:
        steps: Euler steps.
        schedule: ``cosine`` (the official) or ``linear`` time steps.
        cfg_rate: classifier-free guidance weight.
        noise_seed: seed of the fixed noise.
        noise_frames: frames of fixed noise, so the longest sequence (300 s at 50 frames/s).
        temperature: the noise is scaled by this.
        stream_cache: what streaming keeps of earlier frames per attention layer: ``inputs``
            (the layer's normalised inputs, keys and values re-projected for every piece) or
            ``kv`` (keys and values). With the official sizes ``inputs`` takes a quarter of
            the memory; on a CPU, 6 pieces of 50 frames took 2.26 s an estimator call against
            1.86 s with ``kv`` (1.73 s for the 300 frames offline). See `SamplerStream`.
    """

    steps: int = 10
    schedule: str = "cosine"
    cfg_rate: float = 0.7
    noise_seed: int = 0
    noise_frames: int = 50 * 300
    temperature: float = 1.0
    stream_cache: str = "inputs"

    def __post_init__(self) -> None:
        counts = {"steps": self.steps, "noise_frames": self.noise_frames}
        for name, value in counts.items():
            if value < 1:
                raise FlowSamplerError(f"flow sampler: {name} must be at least 1, got {value}")
        # Negative weights would flip the guidance or the noise: never a setting, a slip.
        weights = {"cfg_rate": self.cfg_rate, "temperature": self.temperature}
        for name, weight in weights.items():
            if not weight >= 0:  # NaN too
                raise FlowSamplerError(f"flow sampler: {name} must be at least 0, got {weight}")
        if self.schedule not in SCHEDULES:
            raise FlowSamplerError(
                f"flow sampler: schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}"
            )
        if self.stream_cache not in CACHE_KINDS:
            raise FlowSamplerError(
                f"flow sampler: stream_cache {self.stream_cache!r} is not one of "
                f"{', '.join(CACHE_KINDS)}"
            )


def cosyvoice2() -> CFMConfig:
    """The official CosyVoice2-0.5B sampler (10 cosine steps, guidance 0.7)."""
    return CFMConfig()


def debug() -> CFMConfig:
    """The official sampler; its cost is the estimator's, which has its own debug preset."""
    return CFMConfig()


PRESETS = {"cosyvoice2": cosyvoice2, "debug": debug}


def fixed_noise(config: CFMConfig, mel_bins: int) -> torch.Tensor:
    """The sampler's starting noise ``[1, M, noise_frames]`` (float32, CPU)."""
    generator = torch.Generator().manual_seed(config.noise_seed)
    return torch.randn((1, mel_bins, config.noise_frames), generator=generator)


@dataclass
class SamplerStream:
    """One request's streaming state.

    Memory: for every step, every attention layer keeps, per frame and per guidance branch,
    ``2 * heads * head_dim`` numbers (``kv``) or ``width`` (``inputs``). For the official
    sizes (56 layers, 10 steps, 2 branches) that is 1,146,880 numbers a frame with ``kv``:
    4.4 MiB in float32 (2.2 MiB in half precision), 219 MiB a second of speech at 50
    frames/s; with ``inputs`` 286,720 numbers, 1.1 MiB a frame in float32, 55 MiB a second.
    The convolutions add a fixed ``31 * 2`` frames per step and branch.

    Attributes:
        spks: the speaker vector for both branches ``[2, M]`` (zeros for the unconditional).
        steps: per Euler step, the estimator's memory.
        frames: frames produced so far.
        finished: a piece ended off a chunk boundary: it was the last.
    """

    spks: torch.Tensor
    steps: list[EstimatorMemory] = field(default_factory=list)
    frames: int = 0
    finished: bool = False

    def nbytes(self) -> int:
        return sum(memory.nbytes() for memory in self.steps)


class FlowSampler(nn.Module):
    """Mel from ``mu`` and the conditions (see the module docstring). Its only weights are
    the estimator's (``estimator.*``)."""

    def __init__(self, config: CFMConfig, estimator: CausalEstimator) -> None:
        super().__init__()
        self.config = config
        self.estimator = estimator
        self.mel_bins = estimator.config.mel_bins
        # A plain attribute, not a buffer: it stays float32 when the model changes dtype, and
        # each call moves the frames it needs (as the reference does).
        self.noise = fixed_noise(config, self.mel_bins)

    @torch.inference_mode()
    def sample(
        self,
        mu: torch.Tensor,
        mask: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        streaming: bool = False,
    ) -> torch.Tensor:
        """Mel for a right-padded batch; each item as if alone.

        Args:
            mu: the encoder's projected output ``[B, M, T]``.
            mask: 1 on real frames, 0 on padding ``[B, 1, T]``.
            spks: projected speaker vectors ``[B, M]``.
            cond: the prompt mel, zeros after it ``[B, M, T]``.
            streaming: the chunk-masked attention of streaming, over the whole sequences.

        Returns:
            mel ``[B, M, T]`` float32, zero on padding.

        Raises:
            FlowSamplerError: shapes disagree, or ``T`` exceeds the fixed noise.
        """
        self._check_batch(mu, mask, spks, cond)
        x = self._noise(0, mu).expand(mu.shape[0], -1, -1)
        masks = torch.cat([mask, mask])

        def field(
            step: int,
            x: torch.Tensor,
            mu: torch.Tensor,
            t: torch.Tensor,
            spks: torch.Tensor,
            cond: torch.Tensor,
        ) -> torch.Tensor:
            return self.estimator(x, masks, mu, t, spks, cond, streaming=streaming)

        x = self._solve(x, _guided(mu), _guided(spks), _guided(cond), field)
        return (x * mask).float()

    def start_stream(self, spks: torch.Tensor) -> SamplerStream:
        """A fresh request's streaming state; ``spks``: its projected speaker vector ``[1, M]``.

        Raises:
            FlowSamplerError: ``spks`` is not ``[1, M]``.
        """
        if tuple(spks.shape) != (1, self.mel_bins):
            raise FlowSamplerError(
                f"flow sampler stream spks: want [1, {self.mel_bins}], got {list(spks.shape)}"
            )
        cache = self.config.stream_cache
        return SamplerStream(
            spks=_guided(spks),
            steps=[EstimatorMemory(cache=cache) for _ in range(self.config.steps)],
        )

    @torch.inference_mode()
    def stream_step(
        self, state: SamplerStream, mu: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        """Mel of the next ``n`` frames of a request: equal to the same frames of `sample`
        with ``streaming=True`` over the whole sequence, but computed from ``state`` and
        these frames only. Every piece but the last must end on a multiple of the
        estimator's ``chunk_frames``, counted from the sequence's first frame (the prompt's
        included); a piece ending elsewhere is taken as the last.

        Args:
            state: from `start_stream`; updated in place.
            mu, cond: the piece's frames ``[1, M, n]``.

        Returns:
            ``[1, M, n]`` float32.

        Raises:
            FlowSamplerError: the stream is finished, a shape is wrong, or the sequence
                outgrows the fixed noise.
        """
        self._check_piece(state, mu, cond)
        frames = mu.shape[2]
        if frames == 0:
            return mu.new_zeros(1, self.mel_bins, 0).float()
        x = self._noise(state.frames, mu)

        def field(
            step: int,
            x: torch.Tensor,
            mu: torch.Tensor,
            t: torch.Tensor,
            spks: torch.Tensor,
            cond: torch.Tensor,
        ) -> torch.Tensor:
            return self.estimator.stream(x, mu, t, spks, cond, state.steps[step])

        x = self._solve(x, _guided(mu), state.spks.to(mu), _guided(cond), field)
        state.frames += frames
        state.finished = state.frames % self.estimator.config.chunk_frames != 0
        return x.float()

    def _solve(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        field: Field,
    ) -> torch.Tensor:
        """Euler steps from ``x [B, M, n]``; the conditions come as guidance batches ``2B``
        (conditional first)."""
        rate = self.config.cfg_rate
        items = x.shape[0]
        for step, (t, dt) in enumerate(self._times(mu.dtype, mu.device)):
            velocity = field(step, torch.cat([x, x]), mu, t.expand(2 * items), spks, cond)
            conditional, unconditional = velocity.split(items)
            x = x + dt * ((1.0 + rate) * conditional - rate * unconditional)
        return x

    def _times(
        self, dtype: torch.dtype, device: torch.device
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(t, dt)`` of each step. ``t`` accumulates the ``dt`` and each ``dt`` reaches the
        next grid time from there, in ``dtype``, as the reference's solver does (the sums
        differ from the grid in the last bits)."""
        steps = self.config.steps
        grid = torch.linspace(0, 1, steps + 1, device=device, dtype=dtype)
        if self.config.schedule == "cosine":
            grid = 1 - torch.cos(grid * 0.5 * torch.pi)
        t, dt = grid[0], grid[1] - grid[0]
        times = []
        for step in range(1, steps + 1):
            times.append((t, dt))
            t = t + dt
            if step < steps:
                dt = grid[step + 1] - t
        return times

    def _noise(self, start: int, like: torch.Tensor) -> torch.Tensor:
        """Frames ``start .. start + n`` of the fixed noise, ``n`` those of ``like [B, M, n]``,
        scaled by the temperature: ``[1, M, n]`` in ``like``'s dtype."""
        end = start + like.shape[2]
        if end > self.config.noise_frames:
            raise FlowSamplerError(
                f"flow sampler: {end} frames exceed the fixed noise's {self.config.noise_frames}"
            )
        noise = self.noise[:, :, start:end].to(like.device).to(like.dtype)
        return noise * self.config.temperature

    def _check_batch(
        self, mu: torch.Tensor, mask: torch.Tensor, spks: torch.Tensor, cond: torch.Tensor
    ) -> None:
        if mu.dim() != 3 or mu.shape[1] != self.mel_bins:
            raise FlowSamplerError(
                f"flow sampler mu: want [B, {self.mel_bins}, T], got {list(mu.shape)}"
            )
        items, _, frames = mu.shape
        wants = {
            "mask": (mask, (items, 1, frames)),
            "spks": (spks, (items, self.mel_bins)),
            "cond": (cond, (items, self.mel_bins, frames)),
        }
        for name, (tensor, want) in wants.items():
            if tuple(tensor.shape) != want:
                raise FlowSamplerError(
                    f"flow sampler {name}: want {list(want)}, got {list(tensor.shape)}"
                )

    def _check_piece(self, state: SamplerStream, mu: torch.Tensor, cond: torch.Tensor) -> None:
        if state.finished:
            raise FlowSamplerError(
                f"flow sampler stream: the last piece (ending at frame {state.frames}, off a "
                f"{self.estimator.config.chunk_frames}-frame chunk boundary) was already sampled"
            )
        if mu.dim() != 3 or mu.shape[:2] != (1, self.mel_bins):
            raise FlowSamplerError(
                f"flow sampler stream mu: want [1, {self.mel_bins}, n], got {list(mu.shape)}"
            )
        if cond.shape != mu.shape:
            raise FlowSamplerError(
                f"flow sampler stream cond: want {list(mu.shape)}, got {list(cond.shape)}"
            )


def _guided(condition: torch.Tensor) -> torch.Tensor:
    """A condition ``[B, ...]`` for the guidance batch: itself, then zeros ``[2B, ...]``."""
    return torch.cat([condition, torch.zeros_like(condition)])
