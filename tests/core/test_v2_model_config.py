"""The model configuration (Triton's extension) built from V2 metadata: batch dims, datatypes, bounds."""

from __future__ import annotations

import pytest

from lesson.core.v2 import CONFIG_DATATYPES, DATATYPES, model_config
from lesson.models.mlp_numpy import serving_registry


def test_the_real_models_config_takes_the_batch_dimension_out():
    meta = serving_registry().get().metadata()
    config = model_config(meta.name, meta.platform, meta.inputs, meta.outputs, 64)
    assert config["max_batch_size"] == 64
    assert config["input"] == [
        {"name": "input", "data_type": "TYPE_FP64", "dims": [meta.n_features]}
    ]
    assert config["output"] == [
        {"name": "disease_progression", "data_type": "TYPE_FP64", "dims": [1]}
    ]


def test_fixed_shapes_are_not_a_batch():
    config = model_config(
        "m",
        "p",
        [{"name": "x", "datatype": "INT32", "shape": [3, 4]}],
        [{"name": "y", "datatype": "BYTES", "shape": [3]}],
        8,
    )
    assert config["max_batch_size"] == 0
    assert (
        config["input"][0]["dims"] == [3, 4] and config["output"][0]["data_type"] == "TYPE_STRING"
    )


def test_every_v2_datatype_has_a_config_type():
    assert set(DATATYPES) <= set(CONFIG_DATATYPES)


@pytest.mark.parametrize("bad", [0, -1, True, 2.5])
def test_max_batch_size_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_batch_size"):
        model_config("m", "p", [], [], bad)


def test_an_unknown_datatype_is_named():
    with pytest.raises(ValueError, match=r"inputs\[0\].datatype: 'FP8'"):
        model_config("m", "p", [{"name": "x", "datatype": "FP8", "shape": [-1, 2]}], [], 4)
