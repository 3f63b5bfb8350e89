"""Language codes: the job speaks ISO 639-1 (``fr``); each model family has its own codes.

- NLLB-200: FLORES-200 codes, ISO 639-3 + script (``fra_Latn``);
- M2M100: ISO 639-1 with the tokenizer's ``__fr__`` tokens;
- Marian opus-mt: one model per pair (``Helsinki-NLP/opus-mt-fr-en``); multi-target models
  want a ``>>fra<<`` prefix (ISO 639-3);
- SeamlessM4T v2: ISO 639-3 (``fra``).
"""

from __future__ import annotations

from models.s2st.translator import TranslationSetupError

#: The languages of the first release (English and the six DS2ST-LM languages).
LANGUAGES = ("en", "fr", "es", "de", "hi", "bn", "ur")

ISO3 = {
    "en": "eng",
    "fr": "fra",
    "es": "spa",
    "de": "deu",
    "hi": "hin",
    "bn": "ben",
    "ur": "urd",
    "it": "ita",
    "pt": "por",
    "ja": "jpn",
    "ko": "kor",
    "zh": "cmn",
    "ru": "rus",
    "ar": "arb",
}
SCRIPT = {
    "hi": "Deva",
    "bn": "Beng",
    "ur": "Arab",
    "ja": "Jpan",
    "ko": "Hang",
    "zh": "Hans",
    "ru": "Cyrl",
    "ar": "Arab",
}
#: Languages written without spaces between words: BLEU/chrF tokenise them by character.
NO_SPACES = frozenset({"ja", "zh", "th", "my", "lo", "km"})


def iso1(language: str) -> str:
    """``"fr-FR"`` / ``"FR"`` / ``"fra"`` -> ``"fr"``.

    Raises:
        TranslationSetupError: a code that is neither ISO 639-1 nor a known ISO 639-3 one.
    """
    code = language.replace("_", "-").split("-")[0].lower()
    if len(code) == 2:
        return code
    for short, long in ISO3.items():
        if code == long:
            return short
    raise TranslationSetupError(f"unknown language code {language!r}; use ISO 639-1 (fr, en)")


def iso3(language: str) -> str:
    code = iso1(language)
    if code not in ISO3:
        raise TranslationSetupError(f"no ISO 639-3 code known for {language!r}")
    return ISO3[code]


def nllb_code(language: str) -> str:
    """``"fr"`` -> ``"fra_Latn"`` (FLORES-200)."""
    code = iso1(language)
    return f"{iso3(code)}_{SCRIPT.get(code, 'Latn')}"


def m2m100_code(language: str) -> str:
    """``"fr"`` -> ``"fr"`` (the tokenizer's ``src_lang``; its token is ``__fr__``)."""
    return iso1(language)


def marian_target_token(language: str) -> str:
    """``"fr"`` -> ``">>fra<<"``, the prefix multi-target opus-mt models want."""
    return f">>{iso3(language)}<<"


def seamless_code(language: str) -> str:
    """``"fr"`` -> ``"fra"`` (SeamlessM4T's ``src_lang`` / ``tgt_lang``)."""
    return iso3(language)
