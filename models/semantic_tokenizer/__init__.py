"""Supervised semantic speech tokenizer (S3-style) with its training recipe.

Whisper-style encoder -> quantizer (EMA VQ or FSQ) after block k -> more blocks -> CTC over
characters. See :mod:`models.semantic_tokenizer.train` for training and
:mod:`models.semantic_tokenizer.debug_recipe` for the CPU debug recipe.
"""

from models.semantic_tokenizer.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_model,
    load_training_state,
    save_checkpoint,
)
from models.semantic_tokenizer.config import (
    PRESETS,
    QuantizerConfig,
    SemanticTokenizerConfig,
    debug_config,
    preset_config,
    small_config,
    tiny_config,
)
from models.semantic_tokenizer.data import (
    Batch,
    Example,
    LengthBucketSampler,
    Record,
    SpeechTextDataset,
    collate,
    read_manifest,
    read_parquet,
    write_manifest,
    write_parquet,
)
from models.semantic_tokenizer.model import (
    SemanticTokenizer,
    SemanticTokenizerOutput,
    build_from_config,
    build_semantic_tokenizer,
    init_from_whisper,
)
from models.semantic_tokenizer.quantizers import EMAVectorQuantizer, FSQuantizer, QuantizerOutput
from models.semantic_tokenizer.train import (
    TrainConfig,
    TrainResult,
    evaluate,
    train_local,
    train_step,
    train_with_ray,
)
from models.semantic_tokenizer.vocab import CharVocab, character_error_rate, ctc_greedy_decode

__all__ = [
    "PRESETS",
    "Batch",
    "CharVocab",
    "EMAVectorQuantizer",
    "Example",
    "FSQuantizer",
    "LengthBucketSampler",
    "QuantizerConfig",
    "QuantizerOutput",
    "Record",
    "SemanticTokenizer",
    "SemanticTokenizerConfig",
    "SemanticTokenizerOutput",
    "SpeechTextDataset",
    "TrainConfig",
    "TrainResult",
    "TrainerState",
    "build_from_config",
    "build_semantic_tokenizer",
    "character_error_rate",
    "collate",
    "ctc_greedy_decode",
    "debug_config",
    "evaluate",
    "init_from_whisper",
    "latest_checkpoint",
    "load_model",
    "load_training_state",
    "preset_config",
    "read_manifest",
    "read_parquet",
    "save_checkpoint",
    "small_config",
    "tiny_config",
    "train_local",
    "train_step",
    "train_with_ray",
    "write_manifest",
    "write_parquet",
]
