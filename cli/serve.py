"""The `serve` command (also what `python app.py` runs with no subcommand): the UI and API on HOST:PORT."""

from __future__ import annotations

import argparse
import sys

from cli import Command
from cli.context import open_services, serve_forever
from core.config import SeracConfig


def _args(p: argparse.ArgumentParser) -> None:
    """serve takes only the global options (--host, --port, --db, models)."""


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    services = open_services(config)
    print(f"{len(services.editor.memory)} active edits indexed; serving on http://{args.host}:{args.port}",
          file=sys.stderr)
    serve_forever(services, args.host, args.port)
    return 0


COMMANDS = [Command("serve", "serve the curator UI and API (the default)", _args, _run)]
