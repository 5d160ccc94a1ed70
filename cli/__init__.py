"""Subcommands of app.py. Each module exposes `COMMANDS`: a list of Command (name, help, arguments, run).

Invariant: a command's `run(args, config)` returns an exit code and raises only EditorError for
user mistakes; app.py turns that into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from core.config import SeracConfig


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, SeracConfig], int]
