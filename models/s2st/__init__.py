"""Speech-to-speech translation backends behind one `Translator` interface.

``build_translator("cascade", TranslatorOptions(source="fr", target="en"))`` builds a backend;
the ``audiotok translate`` job (pipelines.translate) feeds it segments cut at pauses.
"""

from models.s2st.translator import (
    SegmentError,
    SegmentInput,
    SegmentOutput,
    TranslationSetupError,
    Translator,
    TranslatorOptions,
    build_translator,
    register_translator,
    translator_names,
)

__all__ = [
    "SegmentError",
    "SegmentInput",
    "SegmentOutput",
    "TranslationSetupError",
    "Translator",
    "TranslatorOptions",
    "build_translator",
    "register_translator",
    "translator_names",
]
