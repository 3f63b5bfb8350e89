"""Progress bars print their last line once, also where a carriage return erases nothing."""

from __future__ import annotations

import io
import re

from tqdm import tqdm

from audiotok.progress import advance


def _drawn(steps: list[int], total: int) -> list[str]:
    out = io.StringIO()
    bar = tqdm(total=total, file=out, mininterval=0, desc="job")
    for n in steps:
        advance(bar, n)
    bar.close()
    return [line for line in out.getvalue().replace("\r", "\n").splitlines() if line.strip()]


def test_the_completing_step_is_drawn_once() -> None:
    lines = _drawn([1, 1, 1], 3)
    assert sum("3/3" in line for line in lines) == 1
    assert sum("2/3" in line for line in lines) == 1
    # a plain update() would draw 100 % twice: the step itself and close()
    out = io.StringIO()
    bar = tqdm(total=2, file=out, mininterval=0)
    bar.update(1)
    bar.update(1)
    bar.close()
    assert out.getvalue().count("2/2") == 2


def test_a_step_past_the_total_still_counts() -> None:
    lines = _drawn([2, 5], 4)  # tqdm shows a count past its total as "7it"
    # "job: 7it", not a rate such as "91464.57it/s"
    count = re.compile(r"job: 7it ")
    assert count.search(lines[-1]) and sum(bool(count.search(line)) for line in lines) == 1
