"""Wall time and peak memory of one call, on CPU or CUDA."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
import time
from types import TracebackType

import torch

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc ``malloc_trim``), so memory that an
    earlier call freed but the allocator kept does not hide the next call's allocations from
    the resident-set size. A no-op where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; 0 where it does not exist)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except OSError:
        return 0


class Measured:
    """``with Measured(device) as m: ...`` then ``m.seconds`` and ``m.peak_mb``.

    On CUDA the peak is the most memory torch's allocator held above what it held before
    (``max_memory_allocated``); on CPU the highest resident set size sampled every
    millisecond, above the size at entry (after the C heap's free pages went back to the
    system): memory the call itself needed. Memory that the Python or torch allocators keep
    in their own pools from earlier calls can still be reused unseen, so on CPU this is a
    lower bound.
    """

    def __init__(self, device: torch.device | str = "cpu", interval: float = 0.001) -> None:
        self.device = torch.device(device)
        self.interval = interval
        self.seconds = 0.0
        self.peak_mb = 0.0
        self._base = 0
        self._peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Measured:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            _trim_heap()
            self._base = self._peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._peak = torch.cuda.max_memory_allocated(self.device)
        self.seconds = time.perf_counter() - self._start
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes())
        self.peak_mb = max(0, self._peak - self._base) / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes())


def device_description(device: torch.device | str, threads: int) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} ({device})"
    return f"cpu ({threads} thread{'s' if threads != 1 else ''} per worker, {os.cpu_count()} CPUs)"
