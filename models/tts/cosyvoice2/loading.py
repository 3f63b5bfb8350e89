"""Building CosyVoice 2 generators: from the official files, from our own layout, or random.

- `from_pretrained(source)`: a Hub id or a directory in either layout (`files`). The official
  layout's architecture comes from ``cosyvoice2.yaml`` read as plain data (tags ignored,
  nothing executed), the LM body's from ``CosyVoice-BlankEN/config.json``, the block counts
  from the state dicts; weights load with ``torch.load(weights_only=True)``, strictly.
  Files that differ from the official ones (fine-tuned, or the random files of the tests)
  load the same way; only the S3 tokenizer's published hash is not required of them.
- `random_generator()`: debug-size parts with seeded random weights and a built-in speaker
  ``random``, for tests and ``--random-weights`` only (it warns; nothing falls back to it).
- `save(parts, out, layout)` / `convert(source, out, to)`: either layout from either.
"""

from __future__ import annotations

import json
import shutil
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from audiotok.errors import WeightsNotFoundError
from audiotok.tokenizers.s3 import S3Tokenizer, get_config, load_model, load_pretrained
from audiotok.tokenizers.s3 import save_pretrained as save_s3
from audiotok.tokenizers.s3.onnx_import import sha256_of
from models.tts.cosyvoice2 import files
from models.tts.cosyvoice2.campplus import CAMPPlus, RandomSpeakerEmbedder
from models.tts.cosyvoice2.decode import SamplingConfig
from models.tts.cosyvoice2.flow import CausalFlow, FlowConfig
from models.tts.cosyvoice2.flow import cosyvoice2 as flow_full
from models.tts.cosyvoice2.flow import debug as flow_debug
from models.tts.cosyvoice2.flow_encoder import FlowEncoderConfig
from models.tts.cosyvoice2.flow_estimator import EstimatorConfig
from models.tts.cosyvoice2.flow_sampler import CFMConfig
from models.tts.cosyvoice2.hift import HiFT
from models.tts.cosyvoice2.hift_config import HiFTConfig
from models.tts.cosyvoice2.hift_config import cosyvoice2 as hift_full
from models.tts.cosyvoice2.hift_config import debug as hift_debug
from models.tts.cosyvoice2.lm import REFERENCE_BODY_PREFIX, TEXT_HEAD_KEY, SpeechLM
from models.tts.cosyvoice2.lm_config import SpeechLMConfig
from models.tts.cosyvoice2.lm_config import cosyvoice2_0_5b as cosyvoice2_0_5b_lm
from models.tts.cosyvoice2.lm_config import debug as lm_debug
from models.tts.cosyvoice2.model import CosyVoice2Generator, CosyVoice2Parts
from models.tts.cosyvoice2.prompt import PromptConfig, PromptFrontEnd
from models.tts.cosyvoice2.state_dicts import seeded_weights
from models.tts.cosyvoice2.text import TextFrontend, TextFrontendConfig, cosyvoice2_0_5b
from models.tts.cosyvoice2.text import debug as text_debug
from models.tts.cosyvoice2.voice import PromptEncoder
from models.tts.registry import GeneratorFamily

FAMILY_NAME = "cosyvoice2"
FORMAT = 1
S3_SPEC = "s3-v2"
S3_PRESETS = ("v2", "v2_debug")  # what a speech_tokenizer_v2.onnx may hold: full or debug size
RANDOM_SPEAKER = "random"
HIFT_YAML_FIELDS = (  # the yaml's hift keys that are our HiFTConfig fields of the same name
    "in_channels",
    "base_channels",
    "nb_harmonics",
    "sampling_rate",
    "nsf_alpha",
    "nsf_sigma",
    "nsf_voiced_threshold",
    "upsample_rates",
    "upsample_kernel_sizes",
    "resblock_kernel_sizes",
    "resblock_dilation_sizes",
    "source_resblock_kernel_sizes",
    "source_resblock_dilation_sizes",
    "lrelu_slope",
    "audio_limit",
)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class CosyVoice2Config:
    """Every part's config, as our layout's ``config.json`` holds it."""

    lm: SpeechLMConfig
    flow: FlowConfig
    hift: HiFTConfig
    text: TextFrontendConfig
    prompt: PromptConfig
    sampling: SamplingConfig

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": FAMILY_NAME,
            "format": FORMAT,
            "lm": self.lm.to_dict(),
            "flow": self.flow.to_dict(),
            "hift": self.hift.to_dict(),
            "text": self.text.to_dict(),
            "prompt": self.prompt.to_dict(),
            "sampling": asdict(self.sampling),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CosyVoice2Config:
        return cls(
            lm=SpeechLMConfig.from_dict(data["lm"]),
            flow=FlowConfig.from_dict(data["flow"]),
            hift=HiFTConfig.from_dict(data["hift"]),
            text=TextFrontendConfig.from_dict(data["text"]),
            prompt=PromptConfig.from_dict(data["prompt"]),
            sampling=SamplingConfig(**data["sampling"]),
        )


# -- loading --------------------------------------------------------------------------------


def from_pretrained(
    source: str | Path, *, device: str = "cpu", dtype: str = "float32"
) -> CosyVoice2Generator:
    """A generator from a Hub id or a directory in the official layout or ours.

    Raises:
        WeightsNotFoundError: the source is not reachable, or a file is missing (one line
            naming it and where to get it).
        ValueError: a state dict does not fit its config (the message names the keys).
    """
    return load_dir(files.resolve(source), device=device, dtype=dtype)


def load_dir(
    directory: Path, *, device: str = "cpu", dtype: str = "float32"
) -> CosyVoice2Generator:
    if files.is_own(directory):
        parts = load_own(directory)
    elif files.is_official(directory):
        parts = load_official(directory)
    else:
        raise WeightsNotFoundError(
            f"tts model {directory}: holds neither the official files ({files.OFFICIAL_YAML}, "
            f"{', '.join(files.OFFICIAL_PARTS.values())}) nor ours ({files.OWN_CONFIG}, "
            f"{files.OWN_PARTS['lm']}); {files.GET_IT}"
        )
    return CosyVoice2Generator(parts, device=device, dtype=_dtype(dtype))


def load_official(directory: Path) -> CosyVoice2Parts:
    """The parts of a directory in the official layout (see `files`)."""
    yaml_path = directory / files.OFFICIAL_YAML
    spec = files.read_official_yaml(yaml_path) if yaml_path.is_file() else {}
    states = {
        part: _torch_state(files.require_file(directory, name, f"the {part} weights"))
        for part, name in files.OFFICIAL_PARTS.items()
    }
    text_dir = files.require_file(directory, files.OFFICIAL_TEXT_DIR, "the text tokenizer")
    qwen = json.loads(
        files.require_file(text_dir, "config.json", "the LM body's config").read_text()
    )
    lm_config = SpeechLMConfig.from_qwen2(
        qwen, speech_vocab=int(states["lm"]["speech_embedding.weight"].shape[0]) - 3
    )
    flow_config = official_flow_config(spec, states["flow"])
    hift_config = official_hift_config(spec, states["hift"])
    text = TextFrontend.from_dir(text_dir, cosyvoice2_0_5b())
    if text.vocab_size > lm_config.text_vocab:
        raise ValueError(
            f"tts model {directory}: the tokenizer has {text.vocab_size} ids, the LM body "
            f"embeds {lm_config.text_vocab}"
        )
    speakers_path = directory / files.OFFICIAL_SPEAKERS
    return _assemble(
        directory,
        lm=SpeechLM.from_reference_state(states["lm"], lm_config),
        flow=CausalFlow.from_reference_state(states["flow"], flow_config),
        hift=HiFT.from_reference_state(states["hift"], hift_config),
        text=text,
        sampling=official_sampling(spec),
        speakers=_official_speakers(speakers_path) if speakers_path.is_file() else {},
    )


def load_own(directory: Path) -> CosyVoice2Parts:
    """The parts of a directory in our layout (see `files`)."""
    config = CosyVoice2Config.from_dict(json.loads((directory / files.OWN_CONFIG).read_text()))
    lm, flow, hift = SpeechLM(config.lm), CausalFlow(config.flow), HiFT(config.hift)
    for part, module in (("lm", lm), ("flow", flow), ("hift", hift)):
        path = files.require_file(directory, files.OWN_PARTS[part], f"the {part} weights")
        _load_strict(module, load_file(str(path)), path)
    text_dir = files.require_file(directory, files.OWN_TEXT_DIR, "the text tokenizer")
    speakers_path = directory / files.OWN_SPEAKERS
    return _assemble(
        directory,
        lm=lm.eval(),
        flow=flow.eval(),
        hift=hift.eval(),
        text=TextFrontend.from_dir(text_dir, config.text),
        sampling=config.sampling,
        speakers=_own_speakers(speakers_path) if speakers_path.is_file() else {},
        prompt_config=config.prompt,
    )


def _assemble(
    directory: Path,
    *,
    lm: SpeechLM,
    flow: CausalFlow,
    hift: HiFT,
    text: TextFrontend,
    sampling: SamplingConfig,
    speakers: dict[str, dict[str, torch.Tensor]],
    prompt_config: PromptConfig | None = None,
) -> CosyVoice2Parts:
    campplus_path = files.require_file(directory, files.CAMPPLUS, "the CAM++ speaker embedder")
    prompt_config = prompt_config or PromptConfig()
    front = PromptFrontEnd(CAMPPlus(campplus_path, prompt_config.speaker), prompt_config)
    tokenizer, tokenizer_path = _speech_tokenizer(directory)
    return CosyVoice2Parts(
        lm=lm,
        flow=flow,
        hift=hift,
        text=text,
        prompt=PromptEncoder(front, tokenizer, text),
        speakers=speakers,
        sampling=sampling,
        files={"campplus": campplus_path, "speech_tokenizer": tokenizer_path},
    )


def _speech_tokenizer(directory: Path) -> tuple[S3Tokenizer, Path]:
    """The prompt's S3 v2 tokenizer: ``speech_tokenizer_v2.onnx`` (the published file is
    checked against its hash; any other is read at full or debug size, whichever fits), or a
    ``speech_tokenizer/`` folder written by `save_pretrained`."""
    folder = directory / files.SPEECH_TOKENIZER_DIR
    if folder.is_dir() and not (directory / files.SPEECH_TOKENIZER).is_file():
        model = load_pretrained(folder)
        return S3Tokenizer(model.config, S3_SPEC, model), folder
    path = files.require_file(directory, files.SPEECH_TOKENIZER, "the S3 v2 speech tokenizer")
    official = get_config("v2")
    if sha256_of(path) == official.onnx_sha256:
        return S3Tokenizer(official, S3_SPEC, load_model(official, path)), path
    errors = []
    for preset in S3_PRESETS:
        config = get_config(preset)
        try:
            model = load_model(config, path, verify_sha256=False, what=str(path))
        except (ValueError, RuntimeError, KeyError, WeightsNotFoundError) as exc:
            errors.append(f"{preset}: {exc}")
            continue
        return S3Tokenizer(config, S3_SPEC, model), path
    raise ValueError(f"{path}: not an S3 v2 tokenizer of a known size ({'; '.join(errors)})")


def _torch_state(path: Path) -> dict[str, torch.Tensor]:
    """A ``.pt`` state dict, never unpickling anything but tensors and containers."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict")
    return state


def _load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit its config: missing {sorted(missing)[:8]}, "
            f"unexpected {sorted(unexpected)[:8]}"
        )


def _official_speakers(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    data = torch.load(path, map_location="cpu", weights_only=True)
    return {
        str(name): {k: v for k, v in entry.items() if isinstance(v, torch.Tensor)}
        for name, entry in data.items()
        if isinstance(entry, dict)
    }


def _own_speakers(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    speakers: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(path)).items():
        name, _, part = key.rpartition("/")
        speakers.setdefault(name, {})[part] = value
    return speakers


# -- the official yaml as configs -----------------------------------------------------------


def official_flow_config(spec: dict[str, Any], state: dict[str, torch.Tensor]) -> FlowConfig:
    """The flow's config: ``cosyvoice2.yaml``'s values over the official defaults; the
    widths and block counts from the state dict (the reference fixes some in code)."""
    flow = _section(spec, "flow")
    encoder = _section(flow, "encoder")
    estimator = _section(_section(flow, "decoder"), "estimator")
    cfm = _section(_section(flow, "decoder"), "cfm_params")
    cfm = _section(cfm, "content") or cfm  # !new:omegaconf.DictConfig wraps it in "content"
    embedding = state["input_embedding.weight"]
    encoder_config = _overridden(
        FlowEncoderConfig(),
        encoder,
        {
            "attention_heads": "heads",
            "linear_units": "ffn",
            "static_chunk_size": "chunk_tokens",
        },
        input_size=int(embedding.shape[1]),
        width=int(state["encoder_proj.weight"].shape[1]),
        blocks=_count(state, "encoder.encoders."),
        up_blocks=_count(state, "encoder.up_encoders."),
        pre_lookahead=int(flow.get("pre_lookahead_len", FlowEncoderConfig.pre_lookahead)),
        upsample_stride=int(flow.get("token_mel_ratio", FlowEncoderConfig.upsample_stride)),
    )
    estimator_config = _overridden(
        EstimatorConfig(),
        estimator,
        {
            "out_channels": "mel_bins",
            "channels": "channels",
            "attention_head_dim": "head_dim",
            "n_blocks": "blocks",
            "num_mid_blocks": "mid_blocks",
            "num_heads": "heads",
            "act_fn": "activation",
        },
        chunk_frames=encoder_config.chunk_frames,
    )
    cfm_config = _overridden(
        CFMConfig(), cfm, {"inference_cfg_rate": "cfg_rate", "t_scheduler": "schedule"}
    )
    return FlowConfig(
        vocab=int(embedding.shape[0]),
        speaker_dim=int(state["spk_embed_affine_layer.weight"].shape[1]),
        encoder=encoder_config,
        estimator=estimator_config,
        cfm=cfm_config,
    )


def official_hift_config(spec: dict[str, Any], state: dict[str, torch.Tensor]) -> HiFTConfig:
    """The vocoder's config: ``cosyvoice2.yaml``'s values over the official defaults."""
    hift = _section(spec, "hift")
    istft = _section(hift, "istft_params")
    f0 = _section(hift, "f0_predictor")
    config = _overridden(HiFTConfig(), hift, {name: name for name in HIFT_YAML_FIELDS})
    config = _overridden(config, istft, {"n_fft": "n_fft", "hop_len": "istft_hop"})
    return _overridden(config, f0, {"cond_channels": "f0_channels", "num_class": "f0_classes"})


def official_sampling(spec: dict[str, Any]) -> SamplingConfig:
    """The LM's sampling settings from ``llm.sampling`` (the official defaults otherwise)."""
    sampling = _section(_section(spec, "llm"), "sampling")
    names = {"top_p": "top_p", "top_k": "top_k", "win_size": "window", "tau_r": "tau"}
    return _overridden(SamplingConfig(), sampling, names)


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _overridden(base: Any, values: dict[str, Any], names: dict[str, str], **fixed: Any) -> Any:
    """``base`` with the yaml's ``values`` (renamed by ``names``) and then ``fixed`` set;
    lists become tuples where the field is a tuple."""
    changes = {}
    for theirs, ours in names.items():
        if theirs in values and isinstance(values[theirs], int | float | str | list):
            value = values[theirs]
            if isinstance(getattr(base, ours), tuple):
                value = _tuples(value)
            elif isinstance(getattr(base, ours), float):
                value = float(value)
            changes[ours] = value
    return replace(base, **changes, **fixed)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _count(state: dict[str, torch.Tensor], prefix: str) -> int:
    indices = {int(k[len(prefix) :].split(".")[0]) for k in state if k.startswith(prefix)}
    return len(indices)


# -- random debug weights -------------------------------------------------------------------


SIZES = {  # random_parts sizes: LM, flow, vocoder and S3 presets
    "debug": (lm_debug, flow_debug, hift_debug, "v2_debug"),
    "full": (cosyvoice2_0_5b_lm, flow_full, hift_full, "v2"),
}


def random_parts(seed: int = 0, size: str = "debug") -> CosyVoice2Parts:
    """Parts with seeded random weights: the ``debug`` (tests, ``--random-weights``) or the
    ``full`` (the official shapes: benchmarks) LM, flow, vocoder and S3 v2 tokenizer, the tiny
    text tokenizer, a random speaker embedder and a built-in speaker ``random``. Its speech
    means nothing."""
    warnings.warn(
        f"cosyvoice2: a {size} RANDOMLY initialised model; its speech means nothing",
        stacklevel=2,
    )
    lm_preset, flow_preset, hift_preset, s3_preset = SIZES[size]
    text = text_debug()
    lm_config = lm_preset()
    lm_config = replace(lm_config, text_vocab=max(lm_config.text_vocab, text.vocab_size))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lm = SpeechLM(lm_config)
        for module in (lm.llm_embedding, lm.speech_embedding, lm.llm_decoder):
            for parameter in module.parameters():
                torch.nn.init.normal_(parameter, std=0.5)  # spread logits: varied tokens
        flow, hift = CausalFlow(flow_preset()), HiFT(hift_preset())
        seeded_weights(flow, seed, spread=0.1)  # unit gain: the random mel varies
        speaker = torch.randn(flow.config.speaker_dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the S3 tokenizer's own random warning
        tokenizer = S3Tokenizer.random(get_config(s3_preset), S3_SPEC)
    prompt_config = PromptConfig()
    front = PromptFrontEnd(RandomSpeakerEmbedder(prompt_config.speaker, seed), prompt_config)
    return CosyVoice2Parts(
        lm=lm.eval(),
        flow=flow.eval(),
        hift=hift.eval(),
        text=text,
        prompt=PromptEncoder(front, tokenizer, text),
        speakers={RANDOM_SPEAKER: {"embedding": speaker[None]}},
        sampling=SamplingConfig(),
    )


def random_generator(
    device: str = "cpu", seed: int = 0, size: str = "debug", dtype: str = "float32"
) -> CosyVoice2Generator:
    return CosyVoice2Generator(random_parts(seed, size), device=device, dtype=_dtype(dtype))


# -- saving ---------------------------------------------------------------------------------


def save(parts: CosyVoice2Parts, out: Path, layout: str = "safetensors") -> Path:
    """Write ``parts`` to ``out`` in our layout (``safetensors``) or the ``official`` one.

    Raises:
        ValueError: an unknown layout, or parts with no files to copy (a random model's
            speaker embedder is not a file).
    """
    if layout not in ("safetensors", "official"):
        raise ValueError(f"unknown layout {layout!r}: safetensors or official")
    out.mkdir(parents=True, exist_ok=True)
    _copy_front_end_files(parts, out)
    if layout == "safetensors":
        _save_own(parts, out)
    else:
        _save_official(parts, out)
    return out


def convert(source: Path, out: Path, to: str = "safetensors") -> Path:
    """Read ``source`` (either layout) and write it to ``out`` in the ``to`` layout."""
    parts = load_dir(source).parts
    return save(parts, out, "safetensors" if to == "safetensors" else to)


def _copy_front_end_files(parts: CosyVoice2Parts, out: Path) -> None:
    if "campplus" not in parts.files:
        raise ValueError("these parts have no campplus.onnx to save (a random model?)")
    shutil.copyfile(parts.files["campplus"], out / files.CAMPPLUS)
    tokenizer = parts.files.get("speech_tokenizer")
    if tokenizer is not None and tokenizer.is_file():
        shutil.copyfile(tokenizer, out / files.SPEECH_TOKENIZER)
    else:
        assert isinstance(parts.prompt, PromptEncoder)
        model = parts.prompt.speech_tokenizer
        assert isinstance(model, S3Tokenizer)
        save_s3(model.model, out / files.SPEECH_TOKENIZER_DIR)


def _save_own(parts: CosyVoice2Parts, out: Path) -> None:
    assert isinstance(parts.prompt, PromptEncoder)
    config = CosyVoice2Config(
        lm=parts.lm.config,
        flow=parts.flow.config,
        hift=parts.hift.config,
        text=parts.text.config,
        prompt=parts.prompt.front.config,
        sampling=parts.sampling,
    )
    (out / files.OWN_CONFIG).write_text(json.dumps(config.to_dict(), indent=1) + "\n")
    for part, module in (("lm", parts.lm), ("flow", parts.flow), ("hift", parts.hift)):
        state = {k: v.detach().float().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(out / files.OWN_PARTS[part]))
    parts.text.save(out / files.OWN_TEXT_DIR)
    if parts.speakers:
        flat = {
            f"{name}/{key}": value.contiguous()
            for name, entry in parts.speakers.items()
            for key, value in entry.items()
        }
        save_file(flat, str(out / files.OWN_SPEAKERS))


def _save_official(parts: CosyVoice2Parts, out: Path) -> None:
    import yaml

    lm_state = {
        (REFERENCE_BODY_PREFIX + k[len("body.") :] if k.startswith("body.") else k): v.float()
        for k, v in parts.lm.state_dict().items()
    }
    lm_state[TEXT_HEAD_KEY] = lm_state[REFERENCE_BODY_PREFIX + "embed_tokens.weight"].clone()
    torch.save(lm_state, out / files.OFFICIAL_PARTS["lm"])
    torch.save(parts.flow.reference_state(), out / files.OFFICIAL_PARTS["flow"])
    torch.save(parts.hift.reference_state(), out / files.OFFICIAL_PARTS["hift"])
    text_dir = out / files.OFFICIAL_TEXT_DIR
    parts.text.save(text_dir)
    parts.lm.config.qwen2_config().to_json_file(str(text_dir / "config.json"))
    spec = official_yaml(parts.flow.config, parts.hift.config, parts.sampling, parts.lm.config)
    (out / files.OFFICIAL_YAML).write_text(yaml.safe_dump(spec, sort_keys=False))
    if parts.speakers:
        torch.save(parts.speakers, out / files.OFFICIAL_SPEAKERS)


def official_yaml(
    flow: FlowConfig, hift: HiFTConfig, sampling: SamplingConfig, lm: SpeechLMConfig
) -> dict[str, Any]:
    """The parts of ``cosyvoice2.yaml`` this loader reads, as plain data (no tags)."""
    encoder, estimator = flow.encoder, flow.estimator
    return {
        "sample_rate": hift.sampling_rate,
        "llm": {
            "speech_token_size": lm.speech_vocab,
            "sampling": {
                "top_p": sampling.top_p,
                "top_k": sampling.top_k,
                "win_size": sampling.window,
                "tau_r": sampling.tau,
            },
        },
        "flow": {
            "vocab_size": flow.vocab,
            "output_size": flow.mel_bins,
            "spk_embed_dim": flow.speaker_dim,
            "token_mel_ratio": encoder.upsample_stride,
            "pre_lookahead_len": encoder.pre_lookahead,
            "encoder": {
                "output_size": encoder.width,
                "attention_heads": encoder.heads,
                "linear_units": encoder.ffn,
                "num_blocks": encoder.blocks,
                "input_size": encoder.input_size,
                "static_chunk_size": encoder.chunk_tokens,
            },
            "decoder": {
                "cfm_params": {
                    "t_scheduler": flow.cfm.schedule,
                    "inference_cfg_rate": flow.cfm.cfg_rate,
                },
                "estimator": {
                    "out_channels": estimator.mel_bins,
                    "channels": list(estimator.channels),
                    "attention_head_dim": estimator.head_dim,
                    "n_blocks": estimator.blocks,
                    "num_mid_blocks": estimator.mid_blocks,
                    "num_heads": estimator.heads,
                    "act_fn": estimator.activation,
                    "static_chunk_size": estimator.chunk_frames,
                },
            },
        },
        "hift": {
            **{name: _lists(getattr(hift, name)) for name in HIFT_YAML_FIELDS},
            "istft_params": {"n_fft": hift.n_fft, "hop_len": hift.istft_hop},
            "f0_predictor": {"cond_channels": hift.f0_channels, "num_class": hift.f0_classes},
        },
    }


def _lists(value: Any) -> Any:
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


def _dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}: one of {', '.join(DTYPES)}")
    return DTYPES[name]


FAMILY = GeneratorFamily(
    name=FAMILY_NAME,
    detect=lambda directory: files.is_own(directory) or files.is_official(directory),
    load=lambda directory, device, dtype: load_dir(directory, device=device, dtype=dtype),
    random=lambda device: random_generator(device),
    convert=convert,
    resolve=files.resolve,
)
