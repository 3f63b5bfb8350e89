"""Audio quality measures for filtering speech corpora.

`clipping_ratio`, `speech_ratio` and `estimate_snr_db` are plain signal statistics (the
last two take `SpeechSegment`s from `audiotok.vad`); `dnsmos` / `DNSMOS` run Microsoft's
DNSMOS models shipped by the ``speechmos`` package.
"""

from audiotok.quality.dnsmos import DNSMOS, DNSMOSScores, dnsmos
from audiotok.quality.signal import clipping_ratio, estimate_snr_db, speech_ratio

__all__ = ["DNSMOS", "DNSMOSScores", "clipping_ratio", "dnsmos", "estimate_snr_db", "speech_ratio"]
