"""`CosyVoice2Generator`: the CosyVoice 2 `SpeechGenerator` (LM -> flow -> HiFT).

Offline, a batch of requests goes through each stage together: every line's text pieces are
decoded as one LM batch (per-request sampling state), their tokens become mel in one flow pass
and audio in one HiFT pass. Streaming, one request's tokens are vocoded chunk by chunk while the
LM goes on: the first chunk after ``first_chunk_tokens`` tokens (counted so that the prompt and
the chunk end on the flow's training chunk boundary), then chunks growing by ``growth`` up to
``max_chunk_tokens``; the flow and HiFT keep their state between chunks.

Given S3 v2 tokens (`speak_tokens`, the `TokenVocoder` capability), the LM is skipped: the
tokens go through the same flow and HiFT batches as a one-piece line of `synthesize`, in the
voice of a prompt; `speech_tokens` gives the tokens of any speech.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from models.tts.cosyvoice2.decode import LMRequest, LMResult, SamplingConfig, decode, generate
from models.tts.cosyvoice2.flow import CausalFlow
from models.tts.cosyvoice2.hift import HiFT
from models.tts.cosyvoice2.lm import SpeechLM
from models.tts.cosyvoice2.prompt import to_prompt_rate
from models.tts.cosyvoice2.text import TextFrontend
from models.tts.cosyvoice2.voice import (
    PROMPT_RATE,
    PromptParts,
    VoiceCondition,
    speaker_condition,
    voice_condition,
)
from models.tts.generator import (
    AudioChunk,
    SpeechGenerator,
    Synthesis,
    SynthesisError,
    SynthesisRequest,
    TokenRequest,
    TokenVocoder,
)

SAMPLE_RATE = 24000


@dataclass(frozen=True)
class StreamConfig:
    """Chunking of a streamed request (tokens; the first chunk's count is padded so that the
    prompt plus the chunk end on a multiple of the flow's ``chunk_tokens``)."""

    first_chunk_tokens: int = 25
    growth: float = 2.0
    max_chunk_tokens: int = 100


@dataclass
class CosyVoice2Parts:
    """The loaded model: its networks and front ends.

    Attributes:
        prompt: the voice prompt front ends (S3 v2 tokens, CAM++, prompt mel).
        speakers: built-in speakers (``spk2info`` entries) by name.
        sampling: the model's sampling settings (``--greedy`` overrides them per request).
        files: the front-end files it was loaded from (``campplus``, ``speech_tokenizer``),
            which saving copies.
    """

    lm: SpeechLM
    flow: CausalFlow
    hift: HiFT
    text: TextFrontend
    prompt: PromptParts
    speakers: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    files: dict[str, Path] = field(default_factory=dict)


@dataclass(eq=False)
class _Line:
    """A request on its way through the stages."""

    request: SynthesisRequest
    condition: VoiceCondition | None = None
    pieces: list[torch.Tensor] = field(default_factory=list)  # text ids per piece
    results: list[LMResult] = field(default_factory=list)
    error: SynthesisError | None = None


class CosyVoice2Generator(SpeechGenerator, TokenVocoder):
    """See the module docstring.

    Args:
        parts: the loaded model.
        device: where the networks run.
        dtype: the LM's and the flow's precision (bfloat16 or float16 on a GPU); HiFT stays
            float32, as in the official code (its exponentials overflow in half precision).
        stream_config: the default chunking of `stream`.
    """

    def __init__(
        self,
        parts: CosyVoice2Parts,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        stream_config: StreamConfig | None = None,
    ) -> None:
        self.parts = parts
        self.device = torch.device(device)
        self.dtype = dtype
        self.stream_config = stream_config or StreamConfig()
        for module in (parts.lm, parts.flow):
            module.to(self.device, dtype).eval()
        parts.hift.to(self.device, torch.float32).eval()

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @property
    def speakers(self) -> list[str]:
        return list(self.parts.speakers)

    # -- offline ---------------------------------------------------------------------------

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[Synthesis]:
        lines = [self._prepare(request) for request in requests]
        self._generate_tokens([line for line in lines if line.error is None])
        return self._vocode([line for line in lines if line.error is None], lines)

    def _prepare(self, request: SynthesisRequest) -> _Line:
        line = _Line(request)
        try:
            line.condition = self._condition(request)
            line.pieces = [
                torch.tensor(self.parts.text.encode(piece), dtype=torch.long)
                for piece in self.parts.text.split(request.text)
            ]
        except SynthesisError as exc:
            line.error = exc
        return line

    def _condition(self, request: SynthesisRequest) -> VoiceCondition:
        if request.voice is not None:
            return voice_condition(
                request.voice, self.parts.prompt, self.parts.flow.config.token_mel_ratio
            )
        if not self.parts.speakers:
            raise SynthesisError(
                "no_voice", "this model has no built-in speaker: give a voice prompt"
            )
        name = request.speaker or next(iter(self.parts.speakers))
        if name not in self.parts.speakers:
            raise SynthesisError(
                "unknown_speaker", f"{name!r}; known: {', '.join(sorted(self.parts.speakers))}"
            )
        return speaker_condition(self.parts.speakers[name], self.parts.flow.config.mel_bins)

    def _lm_request(self, line: _Line, piece: int) -> LMRequest:
        condition = line.condition
        assert condition is not None
        request = line.request
        seed = None if request.seed is None else request.seed + piece
        # without the prompt's transcript the LM must not continue its speech (see voice.py)
        prompt_speech = condition.prompt_speech if condition.prompt_text.numel() else None
        return LMRequest(
            text=line.pieces[piece],
            prompt_text=condition.prompt_text,
            prompt_speech=_or_empty(prompt_speech),
            sampling=replace(self.parts.sampling, greedy=request.greedy),
            seed=seed,
        )

    def _generate_tokens(self, lines: list[_Line]) -> None:
        jobs = [(line, i) for line in lines for i in range(len(line.pieces))]
        results = generate(self.parts.lm, [self._lm_request(line, i) for line, i in jobs])
        for (line, _), result in zip(jobs, results, strict=True):
            line.results.append(result)
            if result.error is not None and line.error is None:
                line.error = SynthesisError(result.error, result.detail)

    def _vocode(self, ready: list[_Line], lines: list[_Line]) -> list[Synthesis]:
        ok = [line for line in ready if line.error is None]
        jobs = [(line, i) for line in ok for i in range(len(line.pieces))]
        mels = self._flow([(_condition_of(line), line.results[i].tokens) for line, i in jobs])
        waves = self._hift(mels, [_seed(line.request, i) for line, i in jobs])
        by_line: dict[int, list[tuple[torch.Tensor, np.ndarray]]] = {}
        for (line, _), mel, wave in zip(jobs, mels, waves, strict=True):
            by_line.setdefault(id(line), []).append((mel, wave))
        return [self._result(line, by_line.get(id(line), [])) for line in lines]

    def _flow(self, items: list[tuple[VoiceCondition, list[int]]]) -> list[torch.Tensor]:
        if not items:
            return []
        conditions = [c for c, _ in items]
        output = self.parts.flow.inference(
            tokens=[torch.tensor(t, dtype=torch.long) for _, t in items],
            prompt_tokens=[c.prompt_speech for c in conditions],
            prompt_mels=[c.prompt_mel for c in conditions],
            speakers=torch.stack([c.speaker for c in conditions]).to(self.device),
        )
        return [output.mel[i, :, : int(n)].cpu() for i, n in enumerate(output.lengths)]

    def _hift(self, mels: list[torch.Tensor], seeds: list[int | None]) -> list[np.ndarray]:
        """Waveforms of mels ``[80, F_i]``: one padded batch on a GPU; one at a time on a CPU,
        where the batched convolutions over long waveforms ran at half the speed (8 mels of
        ~2.4 s at full size: 15.3 s batched against 7.8 s one by one, 2 threads). Both give
        each item the same samples."""
        if not mels:
            return []
        hift, hop = self.parts.hift, self.parts.hift.config.hop
        if self.device.type != "cuda":
            return [
                hift.synthesize(mel[None].to(self.device), None, [_generator(seed, self.device)])[0]
                .cpu()
                .numpy()
                for mel, seed in zip(mels, seeds, strict=True)
            ]
        lengths = torch.tensor([m.shape[1] for m in mels])
        batch = torch.nn.utils.rnn.pad_sequence([m.T for m in mels], batch_first=True)
        waves = hift.synthesize(
            batch.transpose(1, 2).to(self.device),
            lengths.to(self.device),
            [_generator(s, self.device) for s in seeds],
        )
        return [waves[i, : int(n) * hop].float().cpu().numpy() for i, n in enumerate(lengths)]

    def _result(self, line: _Line, pieces: list[tuple[torch.Tensor, np.ndarray]]) -> Synthesis:
        condition = line.condition
        synthesis = Synthesis(
            id=line.request.id,
            audio=np.concatenate([w for _, w in pieces]) if pieces else np.zeros(0, np.float32),
            sample_rate=SAMPLE_RATE,
            text_tokens=[int(t) for piece in line.pieces for t in piece],
            speech_tokens=[t for result in line.results for t in result.tokens],
            capped=any(result.capped for result in line.results),
            error=line.error,
        )
        if condition is not None:
            synthesis.prompt_text_tokens = condition.prompt_text.tolist()
            synthesis.prompt_speech_tokens = condition.prompt_speech.tolist()
            synthesis.speaker_embedding = condition.speaker.tolist()
            synthesis.prompt_mel = condition.prompt_mel.T.numpy()
        if pieces:
            synthesis.mel = torch.cat([m for m, _ in pieces], dim=1).numpy()
        return synthesis

    # -- given tokens -----------------------------------------------------------------------

    def speech_tokens(self, wave: np.ndarray, sample_rate: int) -> list[int]:
        """The S3 v2 tokens (25 a second) of mono speech ``[N]``, from the prompt front end's
        tokenizer: what the LM would write for it."""
        samples = np.asarray(wave, dtype=np.float32).reshape(-1)
        if sample_rate != PROMPT_RATE:
            samples = to_prompt_rate(samples, sample_rate)
        return self.parts.prompt.speech_tokens(samples)

    def speak_tokens(self, requests: Sequence[TokenRequest]) -> list[Synthesis]:
        """See `TokenVocoder.speak_tokens`. A request with the voice, seed and tokens of a
        one-piece `synthesize` line gives that line's audio."""
        lines = [self._token_line(request) for request in requests]
        return self._vocode([line for line in lines if line.error is None], lines)

    def _token_line(self, request: TokenRequest) -> _Line:
        """A line whose one piece has no text and the given tokens as its LM result."""
        tokens = [int(t) for t in request.tokens]
        line = _Line(
            SynthesisRequest(request.id, "", request.voice, request.speaker, seed=request.seed)
        )
        line.pieces = [torch.zeros(0, dtype=torch.long)]
        line.results = [LMResult(tokens)]
        vocab = self.parts.flow.config.vocab
        if not tokens:
            line.error = SynthesisError("no_tokens", f"{request.id}: no speech tokens to voice")
        elif min(tokens) < 0 or max(tokens) >= vocab:
            line.error = SynthesisError(
                "token_out_of_range", f"{request.id}: tokens must lie in [0, {vocab})"
            )
        else:
            try:
                line.condition = self._condition(line.request)
            except SynthesisError as exc:
                line.error = exc
        return line

    # -- streaming ---------------------------------------------------------------------------

    def stream(self, request: SynthesisRequest) -> Iterator[AudioChunk]:
        """See `SpeechGenerator.stream`. An error after the first chunk (the LM's, in a
        later piece of a long text) ends the stream with a final chunk carrying it."""
        started = time.perf_counter()
        line = self._prepare(request)
        if line.error is not None:
            raise line.error
        mels: list[torch.Tensor] = []
        waves: list[np.ndarray] = []
        index = 0
        for piece in range(len(line.pieces)):
            for wave, mel in self._stream_piece(line, piece):
                mels.append(mel.cpu())
                waves.append(wave)
                if wave.size:
                    elapsed = time.perf_counter() - started
                    yield AudioChunk(request.id, wave, SAMPLE_RATE, index, False, elapsed)
                    index += 1
            if line.error is not None:
                if index == 0:
                    raise line.error
                break
        result = self._result(line, [])
        result.mel = torch.cat(mels, dim=1).numpy() if mels else None
        result.audio = np.concatenate(waves) if waves else np.zeros(0, np.float32)
        elapsed = time.perf_counter() - started
        empty = np.zeros(0, np.float32)
        yield AudioChunk(request.id, empty, SAMPLE_RATE, index, True, elapsed, result)

    def _stream_piece(self, line: _Line, piece: int) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """(audio, mel) per chunk of one text piece, while its tokens are generated."""
        condition = line.condition
        assert condition is not None
        flow, hift, config = self.parts.flow, self.parts.hift, self.stream_config
        flow_state = flow.start_stream(condition.prompt_mel, condition.speaker.to(self.device))
        hift_state = hift.start_stream(_generator(_seed(line.request, piece), self.device))
        lookahead = flow.config.pre_lookahead
        prompt = condition.prompt_speech.tolist()
        tokens: list[int] = []
        offset = 0  # tokens already given to the flow (the prompt's excepted)
        hop = _first_hop(len(prompt), config.first_chunk_tokens, flow.config.chunk_tokens)
        for events in decode(self.parts.lm, [self._lm_request(line, piece)]):
            event = events[0]
            if event.token is not None:
                tokens.append(event.token)
            if event.result is not None:
                line.results.append(event.result)
                if event.result.error is not None:
                    line.error = SynthesisError(event.result.error, event.result.detail)
                    return
                break
            if len(tokens) - offset >= hop + lookahead:
                head = prompt if offset == 0 else []
                chunk = torch.tensor(head + tokens[offset : offset + hop])
                context = torch.tensor(tokens[offset + hop : offset + hop + lookahead])
                mel = flow.stream_step(flow_state, chunk, context)
                yield _samples(hift.stream_step(hift_state, mel[None], last=False)), mel
                offset += hop
                hop = _next_hop(hop, config, flow.config.chunk_tokens)
        head = prompt if offset == 0 else []
        mel = flow.stream_step(flow_state, torch.tensor(head + tokens[offset:]), None)
        yield _samples(hift.stream_step(hift_state, mel[None], last=True)), mel


def _first_hop(prompt_tokens: int, first: int, chunk: int) -> int:
    """``first`` tokens, padded so that the prompt plus them end on a chunk boundary."""
    return math.ceil((prompt_tokens + first) / chunk) * chunk - prompt_tokens


def _next_hop(hop: int, config: StreamConfig, chunk: int) -> int:
    grown = min(config.max_chunk_tokens, int(hop * config.growth))
    return max(chunk, grown // chunk * chunk)


def _seed(request: SynthesisRequest, piece: int) -> int | None:
    return None if request.seed is None else request.seed + 1000 * piece + 1


def _samples(wave: torch.Tensor) -> np.ndarray:
    """``[1, N]`` -> float32 ``[N]`` on the CPU."""
    return wave[0].float().cpu().numpy()


def _condition_of(line: _Line) -> VoiceCondition:
    assert line.condition is not None  # set for every line that reaches the flow
    return line.condition


def _or_empty(tokens: torch.Tensor | None) -> torch.Tensor:
    return torch.zeros(0, dtype=torch.long) if tokens is None else tokens


def _generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device)
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(seed)
    return generator
