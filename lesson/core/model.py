"""Models behind one small protocol, and a registry of named, versioned models.

A model takes validated rows of floats and returns one prediction per row::

    >>> model = default_registry().get()
    >>> model.predict([[0.2, 0.4, 0.6]])
    [0.42]

A model may also be a plain function ``fn(instance) -> list[float]`` (the shape
:mod:`lesson.original_api` takes); it works everywhere through :class:`FunctionModel` (see
:func:`as_model`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ModelMetadata:
    """What a model says about itself (served by the metadata endpoints).

    Attributes:
        name: registry name, e.g. ``averaged_ensemble``.
        version: version string, e.g. ``"1"``.
        platform: what runs it, e.g. ``python`` or ``numpy``.
        n_features: the row width it expects, or None if any width works.
        description: one sentence for learners.
        inputs: tensor descriptions ``{"name", "datatype", "shape"}`` (V2 metadata).
        outputs: tensor descriptions ``{"name", "datatype", "shape"}``.
    """

    name: str
    version: str
    platform: str = "python"
    n_features: int | None = None
    description: str = ""
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


@runtime_checkable
class Model(Protocol):
    """The model protocol: a name, a version, ``predict(rows)`` and ``metadata()``."""

    name: str
    version: str

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        """Return one prediction per row."""
        ...

    def metadata(self) -> ModelMetadata:
        """Describe the model."""
        ...


def averaged_ensembled_model(instances: Sequence[float]) -> list[float]:
    """The toy model: ``[round(mean * 0.8 + 0.1, 4)]``, ``[0.0]`` when empty.

    Args:
        instances: one flat feature vector.

    Returns:
        A one-element list.
    """
    if not instances:
        return [0.0]
    mean = sum(instances) / len(instances)
    return [round(mean * 0.8 + 0.1, 4)]


def _default_tensors(n_features: int | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    width = -1 if n_features is None else n_features
    inputs = [{"name": "input__0", "datatype": "FP64", "shape": [-1, width]}]
    outputs = [{"name": "output__0", "datatype": "FP64", "shape": [-1]}]
    return inputs, outputs


class FunctionModel:
    """Wrap a function ``fn(instance) -> list[float]`` (a model as a plain function).

    ``predict(rows)`` concatenates ``fn(row)`` over the rows, so a function that returns
    one number per instance gives one prediction per row. A bare number is accepted as a
    one-element list.

    Args:
        fn: the function.
        name: registry name (defaults to ``fn.__name__``).
        version: version string.
        n_features: the row width ``fn`` expects, if fixed.
        description: one sentence for learners.
    """

    #: The service checks "one output per row" only for models that promise it.
    one_output_per_row = False

    def __init__(
        self,
        fn: Callable[[list[float]], Any],
        name: str | None = None,
        version: str = "1",
        *,
        n_features: int | None = None,
        description: str = "",
    ):
        if not callable(fn):
            raise TypeError(f"FunctionModel needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", None) or type(fn).__name__
        self.version = str(version)
        self.n_features = n_features
        self.description = (
            description or (getattr(fn, "__doc__", None) or "").strip().split("\n")[0]
        )

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        out: list[Any] = []
        for row in rows:
            result = self.fn(list(row))
            if isinstance(result, (list, tuple)):
                out.extend(result)
            else:
                out.append(result)
        return out

    def metadata(self) -> ModelMetadata:
        inputs, outputs = _default_tensors(self.n_features)
        return ModelMetadata(
            name=self.name,
            version=self.version,
            platform="python",
            n_features=self.n_features,
            description=self.description,
            inputs=inputs,
            outputs=outputs,
        )

    def __repr__(self) -> str:
        return f"FunctionModel({self.name!r}, version={self.version!r})"


class AveragedEnsembleModel:
    """The toy model as a registry model: one output per row.

    Each row is scored with :func:`averaged_ensembled_model`; any row width is accepted.
    """

    one_output_per_row = True

    def __init__(self, name: str = "averaged_ensemble", version: str = "1"):
        self.name = name
        self.version = version

    def predict(self, rows: Sequence[Sequence[float]]) -> list[float]:
        return [averaged_ensembled_model(list(row))[0] for row in rows]

    def metadata(self) -> ModelMetadata:
        inputs, outputs = _default_tensors(None)
        return ModelMetadata(
            name=self.name,
            version=self.version,
            platform="python",
            n_features=None,
            description="The toy model: mean of the features x 0.8 + 0.1, rounded to 4 places.",
            inputs=inputs,
            outputs=outputs,
        )

    def __repr__(self) -> str:
        return f"AveragedEnsembleModel(name={self.name!r}, version={self.version!r})"


def as_model(obj: Any, *, name: str | None = None, version: str = "1") -> Model:
    """Return ``obj`` if it is a :class:`Model`, else wrap a callable in :class:`FunctionModel`.

    Raises:
        TypeError: ``obj`` is neither.
    """
    if all(hasattr(obj, attr) for attr in ("name", "version", "predict", "metadata")) and callable(
        obj.predict
    ):
        return obj
    if obj is averaged_ensembled_model:
        return FunctionModel(obj, name=name or "averaged_ensemble", version=version)
    if callable(obj):
        return FunctionModel(obj, name=name, version=version)
    raise TypeError(
        f"expected a Model (name, version, predict(rows), metadata()) or a function "
        f"fn(instance) -> list[float], got {type(obj).__name__}"
    )


class ModelNotFoundError(LookupError):
    """No model with that name (or version) is registered; the message lists the known ones."""


class ModelRegistry:
    """Named, versioned models. Thread-safe to read while registering.

    The first model registered is the default unless another is registered with
    ``default=True``. Without a version, :meth:`get` returns the version registered last.
    """

    def __init__(self, models: Sequence[Any] = ()):
        self._lock = threading.Lock()  # locks exist in Pyodide too; only new threads do not
        self._models: dict[str, dict[str, Model]] = {}
        self._default: str | None = None
        for model in models:
            self.register(model)

    def register(self, model: Any, *, default: bool = False) -> Model:
        """Add a model (or a plain function, wrapped); return the registered :class:`Model`."""
        model = as_model(model)
        name, version = str(model.name), str(model.version)
        if not name:
            raise ValueError("a model needs a non-empty name")
        with self._lock:
            versions = dict(self._models.get(name, {}))
            versions.pop(version, None)  # re-registering moves it to "latest"
            versions[version] = model
            self._models = {**self._models, name: versions}
            if default or self._default is None:
                self._default = name
        return model

    def _known(self) -> str:
        if not self._models:
            return "no models are registered"
        return "known models: " + ", ".join(
            f"{n} (versions {', '.join(v)})" for n, v in sorted(self._models.items())
        )

    def get(self, name: str | None = None, version: str | None = None) -> Model:
        """The model ``name`` at ``version`` (None: the default model, its latest version).

        Raises:
            ModelNotFoundError: unknown name or version; the message lists the known models.
        """
        models = self._models
        if name is None:
            name = self._default
            if name is None:
                raise ModelNotFoundError("no models are registered")
        versions = models.get(name)
        if not versions:
            raise ModelNotFoundError(f"model {name!r} not found; {self._known()}")
        if version is None:
            return list(versions.values())[-1]
        model = versions.get(str(version))
        if model is None:
            raise ModelNotFoundError(f"model {name!r} has no version {version!r}; {self._known()}")
        return model

    @property
    def default_name(self) -> str | None:
        """Name of the default model."""
        return self._default

    def list(self) -> list[ModelMetadata]:
        """Metadata of every registered model version, sorted by name then registration."""
        return [
            m.metadata() for _, versions in sorted(self._models.items()) for m in versions.values()
        ]

    def __contains__(self, item: object) -> bool:
        """``"name" in registry`` or ``("name", "version") in registry``."""
        if isinstance(item, tuple) and len(item) == 2:
            return str(item[1]) in self._models.get(str(item[0]), {})
        return isinstance(item, str) and item in self._models

    def __len__(self) -> int:
        return sum(len(v) for v in self._models.values())

    def __repr__(self) -> str:
        return f"ModelRegistry({self._known()})"


def default_registry() -> ModelRegistry:
    """A fresh registry holding the toy model as ``averaged_ensemble`` version 1."""
    return ModelRegistry([AveragedEnsembleModel()])
