"""One function per tab: each lays out its components and wires their events to plain callbacks.

Every tab function takes the Services and `who(request) -> User` (the logged-in user) and returns nothing
but the components other tabs need. Events that read with the model (probes, probe sets, sweeps, maps, the
overview's probe check, an edit's page) are HEAVY: Gradio starts them at once and the callback admits them
through `services.heavy` (services.limits: a bound on how many run or wait, and a rate per user), so a flood
is refused with a message instead of queueing here. Writes (add, import, retire, restore, change, confirm)
are WRITE: their own group, never queued behind heavy reads; their model work goes first at the model slot.
"""

import gradio as gr

# A table cell shows at most this many characters of curators' text, then "..." (a click on the cell shows it
# all; an edit's page shows every field whole): a 3,000-character word would otherwise wrap into a row taller
# than its table.
CELL_CHARS = 160
HEAVY = {"concurrency_id": "heavy", "concurrency_limit": None}  # bounded by services.heavy, not by Gradio's queue
WRITE = {"concurrency_id": "write", "concurrency_limit": 4}


def writers_only(who, buttons: list) -> tuple:
    """A load hook that greys out write buttons for viewers (the callbacks refuse them anyway)."""

    def rights(request: gr.Request):
        can = who(request).can_write
        updates = [gr.update(interactive=can) for _ in buttons]
        # Gradio does not unpack a one-element output list: a list returned there would become the
        # button's value, i.e. its label ("[{'interactive': True, '__type__': 'update'}]").
        return updates[0] if len(updates) == 1 else updates

    return rights, None, list(buttons)
