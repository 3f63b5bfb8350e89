"""State-dict helpers shared by the parts: the official names of our keys, strict loading
under those names, and the seeded random weights of debug models and parity tests."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def renamed(key: str, names: tuple[tuple[str, str], ...], what: str) -> str:
    """``key`` with the first matching prefix of ``names`` (ours -> theirs) replaced.

    Raises:
        KeyError: no prefix matches (a key the official files do not have).
    """
    for ours, theirs in names:
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    raise KeyError(f"{what}: no reference name for {key!r}")


def load_reference_state(
    model: ModuleT,
    state: dict[str, torch.Tensor],
    reference_name: Callable[[str], str],
    what: str,
) -> ModuleT:
    """Load ``state`` (official names) into ``model`` strictly: every key used, none missing.

    Raises:
        ValueError: keys are missing or unexpected (the message lists them).
    """
    ours = {reference_name(key): key for key in model.state_dict()}
    missing = sorted(set(ours) - set(state))
    unexpected = sorted(set(state) - set(ours))
    if missing or unexpected:
        raise ValueError(
            f"{what} state dict does not fit the config: "
            f"missing {missing[:8]}, unexpected {unexpected[:8]}"
        )
    model.load_state_dict({ours[key]: value for key, value in state.items()})
    return model


def seeded_weights(module: nn.Module, seed: int, spread: float = 0.2) -> None:
    """Random weights of unit gain from ``seed``: matrices ``N(0, 1 / fan_in)``, layer norm
    gains ``1 + spread N(0, 1)``, biases ``spread N(0, 1)``; outputs vary without blowing up."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if parameter.dim() >= 2:
                parameter.copy_(noise / math.sqrt(parameter[0].numel()))
            elif name.endswith("weight"):
                parameter.copy_(1 + spread * noise)
            else:
                parameter.copy_(spread * noise)
