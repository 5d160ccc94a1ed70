"""One function per tab: each lays out its components and wires their events to plain callbacks.

Every tab function takes the Services and `who(request) -> User` (the logged-in user) and returns nothing
but the components other tabs need. Events that call a model share the concurrency id MODEL (limit 1),
so a slow probe queues behind another probe but never blocks the table, audit or threshold reads.
"""

import gradio as gr

MODEL = {"concurrency_id": "model", "concurrency_limit": 1}
# A table cell shows at most this many characters of curators' text, then "..." (a click on the cell shows it
# all; an edit's page shows every field whole): a 3,000-character word would otherwise wrap into a row taller
# than its table.
CELL_CHARS = 160


def writers_only(who, buttons: list) -> tuple:
    """A load hook that greys out write buttons for viewers (the callbacks refuse them anyway)."""

    def rights(request: gr.Request):
        can = who(request).can_write
        updates = [gr.update(interactive=can) for _ in buttons]
        # Gradio does not unpack a one-element output list: a list returned there would become the
        # button's value, i.e. its label ("[{'interactive': True, '__type__': 'update'}]").
        return updates[0] if len(updates) == 1 else updates

    return rights, None, list(buttons)
