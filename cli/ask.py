"""The `ask` command: route one prompt through the whole system and print its routing record."""

from __future__ import annotations

import argparse
import json

from cli import Command
from cli.context import open_services
from core.config import SeracConfig
from core.text import clean_field
from core.types import RoutingRecord


def _args(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", help="the query")
    p.add_argument("--json", action="store_true", help="print the record as JSON")


def _run(args: argparse.Namespace, config: SeracConfig) -> int:
    prompt = clean_field("prompt", args.prompt, config.max_prompt_chars)  # before the models load
    services = open_services(config)
    record = services.ask([prompt], args.user)[0]
    parts = services.editor.trained_parts or {}
    if args.json:
        print(json.dumps({**record.to_dict(), "parts": parts}, indent=2, ensure_ascii=False))
    else:
        labels = {"scope_classifier": "scope model:", "counterfactual": "counterfactual:"}
        print(
            format_record(record)
            + "".join(f"\n{labels.get(name, name + ':'):<16}{part['description']}" for name, part in parts.items())
        )
    return 0


def format_record(record: RoutingRecord) -> str:
    """The routing record as a few lines of text."""
    d = record.decision
    if d.chosen:
        why = f"edit #{d.chosen.edit.id} scored {d.chosen.score:.3f} >= threshold {d.threshold:.2f}"
    elif d.candidates:
        why = f"best score {d.candidates[0].score:.3f} < threshold {d.threshold:.2f}"
    else:
        why = "no active edits"
    lines = [f"query:          {record.query}", f"route:          {record.route} ({why})"]
    if record.chosen_edit:
        lines.append(
            f"chosen edit:    #{record.chosen_edit.id} {record.chosen_edit.prompt!r} -> {record.chosen_edit.target!r}"
        )
    lines.append("top scores:" + ("" if d.candidates else "     (none)"))
    lines += [
        f"  #{c.edit.id:<6} score {c.score:.3f}  similarity {c.similarity:.3f}  {c.edit.prompt!r}" for c in d.candidates
    ]
    lines += [f"base answer:    {record.base_answer}", f"edited answer:  {record.edited_answer}"]
    return "\n".join(lines)


COMMANDS = [
    Command("ask", "route a prompt and print the routing record (route, edit, scores, both answers)", _args, _run)
]
