"""Models: the original function, the protocol, FunctionModel and the registry."""

from __future__ import annotations

import threading

import pytest

from lesson.core.model import (
    AveragedEnsembleModel,
    FunctionModel,
    Model,
    ModelMetadata,
    ModelNotFoundError,
    ModelRegistry,
    as_model,
    averaged_ensembled_model,
    default_registry,
)


@pytest.mark.parametrize(
    "instances, expected",
    [
        ([0.2, 0.4, 0.6], [0.42]),
        ([1.0], [0.9]),
        ([0.0, 0.0], [0.1]),
        ([-1.0, 1.0], [0.1]),
        ([0.123456, 0.654321], [round((0.123456 + 0.654321) / 2 * 0.8 + 0.1, 4)]),
        ([], [0.0]),
    ],
)
def test_averaged_ensembled_model_exact(instances, expected):
    assert averaged_ensembled_model(instances) == expected


def test_averaged_ensemble_model_is_one_output_per_row():
    model = AveragedEnsembleModel()
    assert isinstance(model, Model)
    assert model.predict([[0.2, 0.4, 0.6], [1.0], [0.0, 1.0]]) == [0.42, 0.9, 0.5]
    meta = model.metadata()
    assert meta.name == "averaged_ensemble" and meta.version == "1"
    assert meta.to_dict()["inputs"][0]["datatype"] == "FP64"


def test_function_model_concatenates_per_row():
    model = FunctionModel(lambda row: [sum(row), max(row)], name="two", version=3)
    assert model.version == "3"
    assert model.predict([[1, 2], [3, 4]]) == [3, 2, 7, 4]
    assert FunctionModel(lambda row: sum(row), name="scalar").predict([[1, 2]]) == [3]
    assert model.metadata() == ModelMetadata(
        name="two",
        version="3",
        platform="python",
        n_features=None,
        description="",
        inputs=model.metadata().inputs,
        outputs=model.metadata().outputs,
    )


def test_function_model_name_defaults_to_function_name():
    def my_model(row):
        """Doubles the first feature."""
        return [row[0] * 2]

    model = FunctionModel(my_model)
    assert model.name == "my_model"
    assert model.metadata().description == "Doubles the first feature."


def test_function_model_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        FunctionModel(42)  # type: ignore[arg-type]


def test_as_model():
    model = AveragedEnsembleModel()
    assert as_model(model) is model
    wrapped = as_model(averaged_ensembled_model)
    assert isinstance(wrapped, FunctionModel) and wrapped.name == "averaged_ensemble"
    assert as_model(lambda row: [1.0], name="one").name == "one"
    with pytest.raises(TypeError, match="expected a Model"):
        as_model("not a model")


def test_registry_default_and_versions():
    registry = ModelRegistry()
    with pytest.raises(ModelNotFoundError, match="no models"):
        registry.get()
    first = registry.register(AveragedEnsembleModel("a", "1"))
    registry.register(AveragedEnsembleModel("a", "2"))
    registry.register(FunctionModel(lambda r: [0.0], name="b"))
    assert (
        registry.get() is not first and registry.get().version == "2"
    )  # latest version of the default
    assert registry.get("a", "1") is first
    assert registry.get("a", 1) is first  # versions are strings, ints accepted
    assert registry.default_name == "a"
    registry.register(FunctionModel(lambda r: [1.0], name="c"), default=True)
    assert registry.get().name == "c"
    assert (
        "a" in registry
        and ("a", "2") in registry
        and ("a", "9") not in registry
        and "z" not in registry
    )
    assert len(registry) == 4
    assert [m.name for m in registry.list()] == ["a", "a", "b", "c"]


def test_registry_unknown_names_the_known_models():
    registry = default_registry()
    with pytest.raises(
        ModelNotFoundError,
        match=r"'nope' not found; known models: averaged_ensemble \(versions 1\)",
    ):
        registry.get("nope")
    with pytest.raises(ModelNotFoundError, match="has no version '7'"):
        registry.get("averaged_ensemble", "7")
    assert isinstance(ModelNotFoundError("x"), LookupError)


def test_registry_rejects_nameless_models_and_accepts_functions():
    registry = ModelRegistry()
    model = registry.register(averaged_ensembled_model)
    assert model.name == "averaged_ensemble"
    with pytest.raises(ValueError, match="non-empty name"):
        registry.register(AveragedEnsembleModel(name=""))


def test_default_registry_is_fresh_each_time():
    a, b = default_registry(), default_registry()
    a.register(FunctionModel(lambda r: [0.0], name="extra"))
    assert "extra" in a and "extra" not in b


def test_registry_is_safe_to_read_while_registering():
    registry = default_registry()
    errors = []

    def reader():
        for _ in range(2000):
            try:
                registry.get()
                registry.list()
            except Exception as exc:  # pragma: no cover - the failure we look for
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(300):
        registry.register(AveragedEnsembleModel("m", str(i)))
    for t in threads:
        t.join()
    assert errors == []
    assert registry.get("m").version == "299"
