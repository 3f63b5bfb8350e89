"""``audiotok translate``: the speech-translation job around any `models.s2st` backend."""

from pipelines.translate.job import TranslateReport, TranslateSettings, run_translate
from pipelines.translate.segments import PlanConfig

__all__ = ["PlanConfig", "TranslateReport", "TranslateSettings", "run_translate"]
