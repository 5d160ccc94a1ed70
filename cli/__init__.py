"""Subcommands of app.py. Each module exposes `COMMANDS`: a list of Command (name, help, arguments, run).

Invariant: a command's `run(args, config)` returns an exit code and raises only EditorError for
user mistakes; app.py turns that into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from core.config import SeracConfig


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, SeracConfig], int]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line on stderr (exit 2), like every other error."""

    def error(self, message: str):
        print(f"error: {self.prog}: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)
