"""Evaluation metrics: text error rates and codec reconstruction metrics.

Reconstruction metrics take an aligned pair (`align_pair`); the packages behind them (librosa,
pesq, pystoi) are imported on first use, so importing this package stays light.
"""

from audiotok.metrics.align import AlignedPair, align_pair
from audiotok.metrics.perceptual import estoi, pesq_nb, pesq_wb, stoi
from audiotok.metrics.registry import (
    METRIC_RATE,
    MetricOutput,
    MetricPair,
    ReconstructionMetric,
    get_metric,
    list_metrics,
    metric_outputs,
    register_metric,
)
from audiotok.metrics.signal import (
    F0Scores,
    f0_metrics,
    f0_track,
    mel_cepstral_distortion,
    mel_distance,
    multi_resolution_stft_distance,
    si_sdr,
)
from audiotok.metrics.text import (
    character_error_rate,
    edit_distance,
    normalize_text,
    word_error_rate,
)

__all__ = [
    "METRIC_RATE",
    "AlignedPair",
    "F0Scores",
    "MetricOutput",
    "MetricPair",
    "ReconstructionMetric",
    "align_pair",
    "character_error_rate",
    "edit_distance",
    "estoi",
    "f0_metrics",
    "f0_track",
    "get_metric",
    "list_metrics",
    "mel_cepstral_distortion",
    "mel_distance",
    "metric_outputs",
    "multi_resolution_stft_distance",
    "normalize_text",
    "pesq_nb",
    "pesq_wb",
    "register_metric",
    "si_sdr",
    "stoi",
    "word_error_rate",
]
