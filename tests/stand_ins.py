"""Stand-in modules that let reference packages import without their unused dependencies.

Reference implementations used for parity (``s3tokenizer``, CosyVoice's code) import
torchaudio at module level only for audio loading and feature code the tests never call;
real torchaudio must not be installed (it pins an older torch). The stand-ins are in
``sys.modules`` only while the reference is imported: other libraries probe for torchaudio with
``importlib.util.find_spec``, which a specless stand-in would break.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import logging
import sys
import types
from collections.abc import Iterator
from typing import Any


def _unavailable(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("stand-in module: not available in tests")


def _module(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    # A spec, so that libraries importing while the stand-in is active can probe for it with
    # ``importlib.util.find_spec`` (they then read its missing distribution metadata as absent).
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    for key, value in attributes.items():
        setattr(module, key, value)
    return module


def torchaudio_modules() -> dict[str, types.ModuleType]:
    """``torchaudio`` and the submodules the references import, every function unavailable."""
    kaldi = _module("torchaudio.compliance.kaldi", fbank=_unavailable)
    compliance = _module("torchaudio.compliance", kaldi=kaldi)
    functional = _module("torchaudio.functional", resample=_unavailable)
    transforms = _module("torchaudio.transforms", Spectrogram=_unavailable, Resample=_unavailable)
    root = _module(
        "torchaudio",
        load=_unavailable,
        save=_unavailable,
        compliance=compliance,
        functional=functional,
        transforms=transforms,
    )
    return {
        "torchaudio": root,
        "torchaudio.compliance": compliance,
        "torchaudio.compliance.kaldi": kaldi,
        "torchaudio.functional": functional,
        "torchaudio.transforms": transforms,
    }


def matcha_modules() -> dict[str, types.ModuleType]:
    """``matcha.utils``, whose real package imports hydra and lightning at import time; the
    reference flow code uses only its logger factory."""
    pylogger = _module("matcha.utils.pylogger", get_pylogger=logging.getLogger)
    utils = _module("matcha.utils", pylogger=pylogger, get_pylogger=logging.getLogger)
    return {"matcha.utils": utils, "matcha.utils.pylogger": pylogger}


@contextlib.contextmanager
def stand_ins(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """``modules`` in ``sys.modules`` for the duration (earlier entries restored after)."""
    previous = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in previous.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def whisper_modules() -> dict[str, types.ModuleType]:
    """``whisper`` (openai-whisper) and ``tiktoken``, which CosyVoice's tokenizer and front-end
    modules import at load time for the Whisper tokenizer and mel code the tests never call."""
    tokenizer = _module("whisper.tokenizer", Tokenizer=_unavailable)
    root = _module("whisper", tokenizer=tokenizer, log_mel_spectrogram=_unavailable)
    tiktoken = _module("tiktoken", Encoding=_unavailable, get_encoding=_unavailable)
    return {"whisper": root, "whisper.tokenizer": tokenizer, "tiktoken": tiktoken}
