"""Text translation for the cascade: transformers seq2seq models by Hub id or directory.

Families, told apart by ``config.json`` and the tokenizer (never by the directory name):

- NLLB-200 (``facebook/nllb-200-distilled-600M``): ``src_lang="fra_Latn"``, the target code
  token as the forced first token;
- M2M100 (``facebook/m2m100_418M``): ``src_lang="fr"``, forced first token ``__en__``;
- Marian opus-mt (``Helsinki-NLP/opus-mt-fr-en``): one pair per model, no codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from audiotok.errors import WeightsNotFoundError
from models.s2st.languages import m2m100_code, nllb_code
from models.s2st.translator import TranslationSetupError


@dataclass(frozen=True)
class MTConfig:
    """Generation settings: segments per batch, beam width, longest output in tokens."""

    batch_size: int = 16
    num_beams: int = 4
    max_new_tokens: int = 256


class TextTranslator:
    """A loaded seq2seq model and its tokenizer; `translate` takes ISO 639-1 codes."""

    def __init__(
        self, model: Any, tokenizer: Any, family: str, source: str, config: MTConfig | None = None
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.family = family
        self.source = source
        self.config = config or MTConfig()

    def describe(self) -> str:
        return f"{self.source} ({self.family})"

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[str]:
        """One translation per text (``""`` stays ``""``), in order."""
        import torch

        results = ["" for _ in texts]
        todo = [i for i, text in enumerate(texts) if text.strip()]
        forced = self._forced_bos(source, target)
        step = self.config.batch_size
        for start in range(0, len(todo), step):
            indices = todo[start : start + step]
            batch = self.tokenizer(
                [texts[i] for i in indices], return_tensors="pt", padding=True, truncation=True
            )
            batch = {k: v.to(self.model.device) for k, v in batch.items()}
            extra = {"forced_bos_token_id": forced} if forced is not None else {}
            with torch.inference_mode():
                ids = self.model.generate(
                    **batch,
                    num_beams=self.config.num_beams,
                    max_new_tokens=self.config.max_new_tokens,
                    **extra,
                )
            decoded = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            for i, text in zip(indices, decoded, strict=True):
                results[i] = text.strip()
        return results

    def _forced_bos(self, source: str, target: str) -> int | None:
        if self.family == "marian":
            return None
        code = nllb_code if self.family == "nllb" else m2m100_code
        self.tokenizer.src_lang = code(source)
        token = code(target) if self.family == "nllb" else f"__{code(target)}__"
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == self.tokenizer.unk_token_id:
            raise TranslationSetupError(f"MT model {self.source}: no language token {token!r}")
        return int(token_id)


def load_text_translator(
    model: str, *, device: str = "cpu", config: MTConfig | None = None
) -> TextTranslator:
    """The seq2seq model ``model`` (Hub id or directory) on ``device``.

    Raises:
        WeightsNotFoundError: neither on disk nor reachable on the Hub.
    """
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
        network = AutoModelForSeq2SeqLM.from_pretrained(model).to(device).eval()
    except (OSError, ValueError) as exc:
        raise WeightsNotFoundError(
            f"MT model {model!r} could not be loaded ({str(exc).splitlines()[0]}); pass "
            "--mt-model with a directory or a Hub id such as facebook/nllb-200-distilled-600M"
        ) from exc
    return TextTranslator(network, tokenizer, _family(network, tokenizer), model, config)


def _family(model: Any, tokenizer: Any) -> str:
    kind = getattr(model.config, "model_type", "")
    if kind == "marian":
        return "marian"
    if kind == "m2m_100":
        return "nllb" if "nllb" in type(tokenizer).__name__.lower() else "m2m100"
    raise TranslationSetupError(f"MT: model type {kind!r} is not NLLB, M2M100 or Marian")
