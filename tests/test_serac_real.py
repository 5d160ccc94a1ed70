"""The SERAC system on the real embedded default models (SmolLM2-135M-Instruct + MiniLM)."""

import pytest

from core.types import EditDraft
from db.repository import EditRepository
from services.services import Services

pytestmark = pytest.mark.models

DARRIEUX = EditDraft("The mother tongue of Danielle Darrieux is", "English", "Danielle Darrieux")
PARAPHRASE = "Where Danielle Darrieux is from, people speak the language of"
UNRELATED = "The capital of France is"


@pytest.fixture
def services(default_config, real_editor, db_url):
    config = default_config.replace(db_url=db_url)
    return Services(config, EditRepository(db_url), real_editor)


def test_edit_prompt_and_paraphrase_route_to_counterfactual(services):
    services.add_edit(DARRIEUX, "alice")
    records = services.ask([DARRIEUX.prompt, PARAPHRASE], "alice")
    for record in records:
        assert record.route == "counterfactual"
        assert record.chosen_edit.id == 1
        assert record.edited_answer.lower().startswith("english"), record.edited_answer
        assert record.base_answer and not record.base_answer.lower().startswith("english")


def test_unrelated_prompt_keeps_the_base_answer(services):
    services.add_edit(DARRIEUX, "alice")
    record = services.ask([UNRELATED], "alice")[0]
    assert record.route == "base" and record.chosen_edit is None
    assert record.edited_answer == record.base_answer == services.editor.base.answer([UNRELATED])[0]
    assert record.decision.candidates[0].score < 0.5


def test_retired_edit_stops_routing_and_restore_brings_it_back(services):
    services.add_edit(DARRIEUX, "alice")
    services.retire(1, "bob", "test")
    assert services.ask([PARAPHRASE], "bob")[0].route == "base"
    services.restore(1, "bob")
    assert services.ask([PARAPHRASE], "bob")[0].route == "counterfactual"
    assert services.check_consistency().ok


def test_probe_log_is_opt_in_and_then_records_each_query(services):
    services.add_edit(DARRIEUX, "alice")
    services.ask([PARAPHRASE, UNRELATED], "alice")
    assert services.repository.recent_probes() == []  # off by default: asking only reads the log
    services.config = services.config.replace(log_probes=True)
    services.ask([PARAPHRASE, UNRELATED], "alice")
    probes = services.repository.recent_probes()
    assert [p["route"] for p in probes] == ["base", "counterfactual"]
    assert probes[1]["chosen_edit_id"] == 1 and probes[1]["edited_answer"].lower().startswith("english")


def test_index_is_rebuilt_from_the_log(default_config, real_editor, db_url):
    repo = EditRepository(db_url)
    repo.add_edits([DARRIEUX, EditDraft("The capital of Veltria is", "Osmund")], "alice")
    repo.retire(2, "alice")
    services = Services(default_config.replace(db_url=db_url), repo, real_editor)
    assert services.editor.memory.ids() == [1]
    assert services.check_consistency().ok


def test_threshold_setting_persists_and_changes_routing(services, default_config, real_editor):
    services.add_edit(DARRIEUX, "alice")
    services.set_threshold("0.999", "alice")
    assert services.ask([PARAPHRASE], "alice")[0].route == "base"
    again = Services(services.config, services.repository, real_editor)
    assert again.editor.threshold == pytest.approx(0.999)
