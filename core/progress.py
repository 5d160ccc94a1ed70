"""Progress reporting: one small interface for long loops (evaluation, benchmarks, training, imports).

A `ProgressFactory` is called as `factory(total=..., desc=..., initial=...)` and returns a bar with
`update(n)` and `close()`. tqdm's class fits it (`terminal_progress` builds one for the CLI);
`NoProgress` shows nothing; `FractionProgress` reports a fraction to a callback (the UI's progress).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def update(self, n: int = 1) -> None: ...

    def close(self) -> None: ...


ProgressFactory = Callable[..., Progress]


class NoProgress:
    """Shows nothing."""

    def __init__(self, total: int = 0, desc: str = "", initial: int = 0, **_):
        pass

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def terminal_progress(total: int = 0, desc: str = "", initial: int = 0, unit: str = "it"):
    """A tqdm bar on stderr, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, initial=initial, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True)


def fraction_progress(report: Callable[[float, str], None]) -> ProgressFactory:
    """A factory whose bars call `report(done / total, 'desc done/total')` on every update."""

    def factory(total: int = 0, desc: str = "", initial: int = 0, **_) -> Progress:
        return FractionProgress(report, total, desc, initial)

    return factory


class FractionProgress:
    def __init__(self, report: Callable[[float, str], None], total: int, desc: str, initial: int = 0):
        self.report, self.total, self.desc, self.done = report, max(total, 1), desc, initial
        self.report(self.done / self.total, f"{desc} {self.done}/{total}")

    def update(self, n: int = 1) -> None:
        self.done += n
        self.report(min(self.done / self.total, 1.0), f"{self.desc} {self.done}/{self.total}")

    def close(self) -> None:
        pass
