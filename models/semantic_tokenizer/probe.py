"""Frozen-token probes: utterance features from tokens and a logistic-regression classifier."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from models.semantic_tokenizer.data import SpeechTextDataset, collate
from models.semantic_tokenizer.model import SemanticTokenizer


@torch.no_grad()
def extract_tokens(
    model: SemanticTokenizer, dataset: SpeechTextDataset, batch_size: int = 64
) -> list[torch.Tensor]:
    """Token ids ``[T_i]`` of every item of ``dataset`` (model in eval mode, CPU tensors)."""
    model.eval()
    device = next(model.parameters()).device
    out: list[torch.Tensor] = []
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
        codes, lengths = model.encode(batch.mels.to(device), batch.mel_lengths.to(device))
        out.extend(row[: int(n)].cpu() for row, n in zip(codes, lengths, strict=True))
    return out


@torch.no_grad()
def token_features(model: SemanticTokenizer, tokens: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per utterance: normalised bag of codes ``[K]`` + mean code embedding ``[D]``.

    Returns ``[N, K + D]``.
    """
    device = next(model.parameters()).device
    rows = []
    for seq in tokens:
        hist = torch.bincount(seq, minlength=model.num_codes).float()
        hist = hist / hist.sum().clamp(min=1)
        mean = model.code_embeddings(seq.to(device)).mean(0).cpu()
        rows.append(torch.cat([hist, mean]))
    return torch.stack(rows)


def logistic_regression_accuracy(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    num_classes: int,
    weight_decay: float = 1e-3,
    steps: int = 300,
    seed: int = 0,
) -> float:
    """Fit multinomial logistic regression on standardised features; test accuracy."""
    generator = torch.Generator().manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    xs, xt = (train_x - mean) / std, (test_x - mean) / std
    weight = (0.01 * torch.randn(xs.shape[1], num_classes, generator=generator)).requires_grad_()
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [weight, bias], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(xs @ weight + bias, train_y) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = (xt @ weight + bias).argmax(-1)
    return float((predicted == test_y).float().mean())
