"""services.serving on tiny real parts and a real SQLite log: the routed model answers (the counterfactual model reads
the edit and the routed query; the base model the whole chat), a stream equals the whole answer, a reader that
stops frees the model, and the request path writes nothing unless --log-probes asks for it (then after the answer)."""

from __future__ import annotations

import sqlalchemy as sa

from core.config import SeracConfig
from core.generation import ChatMessage, GenerationSettings
from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services
from services.serving import serve
from tests.tiny_models import tiny_editor

EDIT = EditDraft("the capital of veltria is", "osmund")
SETTINGS = GenerationSettings(max_tokens=6)


def _services(tmp_path, log_probes=False) -> Services:
    url = f"sqlite:///{tmp_path / 'serving.sqlite'}"
    config = SeracConfig(db_url=url, device="cpu", log_probes=log_probes)
    services = Services(config, EditRepository(url), tiny_editor(tmp_path / "tiny-lm"))
    services.add_edits([EDIT], "alice", "add")
    return services


def _rows(services: Services) -> dict[str, int]:
    """Rows per table of the edit log: what a write would change."""
    engine = services.repository.engine
    with engine.connect() as conn:
        names = sa.inspect(conn).get_table_names()
        return {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar() for n in names}


def test_a_prompt_in_an_edits_scope_is_answered_by_the_counterfactual_model_with_that_edit(tmp_path):
    services = _services(tmp_path)
    served = serve(services, "  the capital of veltria is ", SETTINGS)
    assert served.decision.route == "counterfactual" and served.decision.chosen.edit.target == "osmund"
    read = services.editor.counterfactual.lm.tokenizer.decode(served.generation.prompt_ids)
    assert "osmund" in read and read.count("the capital of veltria is") >= 2  # the edit and the routed query
    text = served.text()
    assert text == served.answer and served.generation.finish_reason in ("stop", "length")


def test_an_unrelated_chat_reaches_the_base_model_whole(tmp_path):
    services = _services(tmp_path)
    chat = (
        ChatMessage("system", "answer in french"),
        ChatMessage("user", "where people speak english"),
        ChatMessage("assistant", "a french city"),
        ChatMessage("user", "who is danielle darrieux"),
    )
    served = serve(services, chat, SETTINGS)
    assert served.decision.route == "base" and served.decision.query == "who is danielle darrieux"
    read = services.editor.base.lm.tokenizer.decode(served.generation.prompt_ids)
    assert all(m.content in read for m in chat) and "osmund" not in read


def test_a_stream_is_the_whole_answer_and_a_reader_that_stops_frees_the_model(tmp_path):
    services = _services(tmp_path)
    whole = serve(services, "who is danielle darrieux", SETTINGS).text()
    served = serve(services, "who is danielle darrieux", SETTINGS)
    assert "".join(served.stream()) == whole and len(whole.split()) == 6
    early = serve(services, "who is danielle darrieux", SETTINGS)
    stream = early.stream()
    next(stream)
    stream.close()  # the client went away after one delta
    assert early.generation.cancel.is_set()
    assert services.model_slot.acquire(timeout=30), "the producer must give the model back"
    services.model_slot.release()


def test_serving_writes_nothing_and_the_opt_in_probe_log_writes_after_the_answer(tmp_path):
    services = _services(tmp_path)
    before = _rows(services)
    for prompt in ("the capital of veltria is", "who is danielle darrieux"):
        served = serve(services, prompt, SETTINGS)
        served.text()
        served.log("alice")
    assert _rows(services) == before
    logged = _services(tmp_path / "logged", log_probes=True)
    served = serve(logged, "the capital of veltria is", SETTINGS)
    assert _rows(logged)["probe_log"] == 0  # routing and building the answer wrote nothing
    text = served.text()
    served.log("alice")
    probe = logged.repository.recent_probes()[0]
    assert _rows(logged)["probe_log"] == 1 and probe["route"] == "counterfactual"
    assert text in str(probe)
