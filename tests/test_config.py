import dataclasses

import pytest

from core.config import SeracConfig, mask_url_password
from core.errors import ConfigError


def test_defaults_are_valid():
    config = SeracConfig()
    assert config.threshold == 0.5 and config.top_k == 5


@pytest.mark.parametrize(
    "field,value",
    [
        ("threshold", -0.1),
        ("threshold", 1.5),
        ("threshold", float("nan")),
        ("top_k", 0),
        ("device", "tpu"),
        ("dtype", "int8"),
        ("scope_scorer", "magic"),
        ("max_new_tokens", 0),
        ("batch_size", 0),
        ("base_model", "  "),
        ("db_url", ""),
        ("similarity_scale", 0.0),
    ],
)
def test_invalid_values_are_rejected(field, value):
    with pytest.raises(ConfigError):
        SeracConfig(**{field: value})


def test_config_is_frozen_and_replace_revalidates():
    config = SeracConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.threshold = 0.9
    assert config.replace(threshold=0.7).threshold == 0.7
    with pytest.raises(ConfigError):
        config.replace(threshold=7)


def test_public_dict_masks_password():
    d = SeracConfig(db_url="postgresql://serac:hunter2@localhost/edits").public_dict()
    assert d["db_url"] == "postgresql://serac:***@localhost/edits"
    assert mask_url_password("sqlite:///x.db") == "sqlite:///x.db"
