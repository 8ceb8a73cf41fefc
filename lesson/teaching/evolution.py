"""Schema evolution and backwards-compatible rollouts: contracts that grow without breaking clients.

Two things get versioned, on different clocks: the **request contract** (which fields a body
may carry) and the **model** (which weights answer). This module makes both explicit:

- :class:`RequestContract` lists the fields a V1 body may carry beside ``instances``, checks
  a body against them (missing, unknown, wrong type, too long: a
  :class:`~lesson.core.schema.ValidationError` naming the field, HTTP 422 on the REST route) and
  says, with :meth:`RequestContract.changes_from`, whether a new contract breaks old clients.
- :class:`VersionedService` is the core :class:`~lesson.core.service.PredictionService` with one
  contract per model version: the real REST app serves it unchanged
  (``lesson.servers.rest.create_app(service=...)``).
- :func:`rollout_registry` holds two real versions of ``diabetes-mlp``.

Standard library only (runs in the browser)::

    >>> service = rollout_service()
    >>> service.predict({"instances": [[59, 2, 32.1, 101, 157, 93.2, 38, 4, 4.8598, 87]],
    ...                  "request_id": "a-1"})["metadata"]["request_id"]
    'a-1'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lesson.core.model import Model, ModelNotFoundError, ModelRegistry
from lesson.core.schema import (
    DEFAULT_LIMITS,
    Limits,
    RequestTooLargeError,
    ValidationError,
    check_body_size,
    parse_v1_request,
)
from lesson.core.service import PredictionService, PreparedRequest

_KINDS = {"string": (str,), "number": (int, float), "boolean": (bool,)}


@dataclass(frozen=True)
class Field:
    """One optional or required top-level field of a request body (beside ``instances``).

    Attributes:
        name: the JSON key.
        kind: ``"string"``, ``"number"`` or ``"boolean"`` (a bool is not a number).
        required: old clients do not send new fields: a new field must not be required.
        max_length: bound on a string's length.
        echo: copy the value into the response metadata (e.g. a client's request id).
        doc: one sentence for the reader.
    """

    name: str
    kind: str = "string"
    required: bool = False
    max_length: int = 256
    echo: bool = False
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Field.kind must be one of {sorted(_KINDS)}, got {self.kind!r}")
        if self.name == "instances":
            raise ValueError("'instances' is always part of the contract; do not redeclare it")


@dataclass(frozen=True)
class Change:
    """One difference between two contracts, and whether it breaks clients of the older one."""

    field: str
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{'BREAKING' if self.breaking else 'compatible'}: {self.field}: {self.what}"


@dataclass(frozen=True)
class ContractRequest:
    """A body that passed its contract: the rows and the declared fields it carried."""

    rows: list[list[float]]
    fields: dict[str, Any]
    contract_version: str


def _error(name: str, msg: str, type_: str) -> dict[str, Any]:
    return {"loc": ["body", name], "msg": msg, "type": type_}


@dataclass(frozen=True)
class RequestContract:
    """The fields a V1 body may carry beside ``instances``, and what to do with unknown ones.

    Attributes:
        version: the contract's version (what the metadata reports).
        fields: the declared fields.
        unknown: ``"reject"`` (an unknown field is a 422 naming it: a typo is caught) or
            ``"ignore"`` (a "tolerant reader": new clients can talk to it, but a field it does
            not know is dropped silently).
    """

    version: str
    fields: tuple[Field, ...] = ()
    unknown: str = "reject"

    def __post_init__(self) -> None:
        if self.unknown not in ("reject", "ignore"):
            raise ValueError(f"unknown must be 'reject' or 'ignore', got {self.unknown!r}")

    def field(self, name: str) -> Field | None:
        """The declared field ``name``, if any."""
        return next((f for f in self.fields if f.name == name), None)

    def parse(self, payload: Any, limits: Limits = DEFAULT_LIMITS) -> ContractRequest:
        """Check a body (dict, or JSON text/bytes) against this contract.

        Raises:
            ValidationError: every problem, each located at ``body.<field>`` (or inside
                ``body.instances`` for the rows, as :func:`lesson.core.schema.parse_v1_request`).
        """
        if isinstance(payload, (bytes, bytearray, str)):
            check_body_size(len(payload), limits)
            try:
                payload = json.loads(payload)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ValidationError(
                    [{"loc": ["body"], "msg": f"JSON decode error: {exc}", "type": "json_invalid"}]
                ) from None
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        if isinstance(payload, dict):
            for spec in self.fields:
                if spec.name not in payload:
                    if spec.required:
                        errors.append(
                            _error(
                                spec.name, f"Field required (contract v{self.version})", "missing"
                            )
                        )
                    continue
                value = payload[spec.name]
                kinds = _KINDS[spec.kind]
                if (isinstance(value, bool) and spec.kind != "boolean") or not isinstance(
                    value, kinds
                ):
                    errors.append(
                        _error(
                            spec.name,
                            f"Input should be a {spec.kind}, got {type(value).__name__}",
                            "type_error",
                        )
                    )
                elif spec.kind == "number" and not math.isfinite(value):
                    errors.append(
                        _error(
                            spec.name,
                            f"Input should be a finite number, got {value!r}",
                            "finite_number",
                        )
                    )
                elif isinstance(value, str) and len(value) > spec.max_length:
                    errors.append(
                        _error(
                            spec.name,
                            f"String has {len(value)} characters, the limit is {spec.max_length}",
                            "too_long",
                        )
                    )
                else:
                    values[spec.name] = value
            if self.unknown == "reject":
                known = {"instances", *(f.name for f in self.fields)}
                for key in sorted(set(payload) - known, key=str):
                    errors.append(
                        _error(
                            str(key),
                            f"Extra inputs are not permitted (contract v{self.version} "
                            f"knows {sorted(known)})",
                            "extra_forbidden",
                        )
                    )
        rows: list[list[float]] = []
        try:
            rows = parse_v1_request(payload, limits).rows
        except RequestTooLargeError:
            raise  # a size bound answers 413 before anything else
        except ValidationError as exc:
            errors = list(exc.errors) + errors
        if errors:
            raise ValidationError(errors)
        return ContractRequest(rows, values, self.version)

    def changes_from(self, older: RequestContract) -> list[Change]:
        """What changed since ``older``, each change marked breaking or not for OLD clients.

        Old clients send bodies valid under ``older``. Breaking: a new required field, a field
        made required, a type change, a shorter length bound, a removed field when unknown
        fields are rejected, and rejecting unknown fields where ``older`` ignored them.
        """
        changes: list[Change] = []
        for new in self.fields:
            old = older.field(new.name)
            if old is None:
                changes.append(
                    Change(
                        new.name,
                        f"added ({'required' if new.required else 'optional'})",
                        new.required,
                    )
                )
                continue
            if new.required and not old.required:
                changes.append(Change(new.name, "made required", True))
            if new.kind != old.kind:
                changes.append(Change(new.name, f"type {old.kind} -> {new.kind}", True))
            if new.max_length < old.max_length:
                changes.append(
                    Change(new.name, f"max_length {old.max_length} -> {new.max_length}", True)
                )
        for old in older.fields:
            if self.field(old.name) is None:
                changes.append(Change(old.name, "removed", self.unknown == "reject"))
        if self.unknown == "reject" and older.unknown == "ignore":
            changes.append(Change("*", "unknown fields now rejected", True))
        return changes

    def is_backward_compatible_with(self, older: RequestContract) -> bool:
        """True when every body valid under ``older`` is still valid here."""
        return not any(change.breaking for change in self.changes_from(older))


#: The first contract, V1: ``{"instances": [...]}`` and nothing else.
CONTRACT_V1 = RequestContract("1")
#: v2 adds an OPTIONAL ``request_id``, echoed in the metadata: old bodies stay valid.
CONTRACT_V2 = RequestContract(
    "2",
    (
        Field(
            "request_id",
            "string",
            max_length=64,
            echo=True,
            doc="The client's id for this request, echoed back so it can match answers to its records.",
        ),
    ),
)
#: A tempting v3 that makes ``request_id`` required: every old client's body now fails.
CONTRACT_V3_BREAKING = RequestContract(
    "3", (Field("request_id", "string", required=True, max_length=64, echo=True),)
)
#: v2 as it might have shipped instead, with ``request_id`` required from the start: the same
#: field as :data:`CONTRACT_V3_BREAKING`, versioned "2" so its errors name the version deployed.
CONTRACT_V2_REQUIRED = RequestContract("2", CONTRACT_V3_BREAKING.fields)

#: The model name the rollout demonstration serves in two versions.
ROLLOUT_MODEL = "diabetes-mlp"


def rollout_registry() -> ModelRegistry:
    """``diabetes-mlp`` in two real versions (standard library only).

    Version ``"1"``: the shipped float weights (:func:`lesson.models.mlp.load_default_mlp`). Version
    ``"2"``: the same network with int8 weights (the ``diabetes-mlp-int8`` artifact, so its
    answers differ slightly), the kind of change one rolls out behind a new version. Version 2
    is registered last, so a request that names no version gets it.
    """
    from lesson.models.int8 import (
        QuantisedMLPModel,
        load_edge_model,
    )
    from lesson.models.mlp import load_default_mlp

    v1 = load_default_mlp()
    int8 = load_edge_model()
    v2 = QuantisedMLPModel(int8.params, name=ROLLOUT_MODEL, version="2", manifest=int8.manifest)
    registry = ModelRegistry()
    registry.register(v1, default=True)
    registry.register(v2)
    return registry


class VersionedService(PredictionService):
    """A :class:`PredictionService` whose request contract depends on the model version served.

    The model version is chosen as usual (pinned, or the latest); the body is then checked
    against that version's contract, and declared ``echo`` fields are copied into the metadata
    with ``contract_version``. V2 (tensor) routes use :meth:`predict_rows` unchanged.

    Args:
        registry: the models.
        contracts: model version -> contract (a version not listed gets ``default_contract``).
        default_contract: the contract for unlisted versions.
        limits: request bounds.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        contracts: Mapping[str, RequestContract],
        *,
        default_contract: RequestContract = CONTRACT_V1,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        super().__init__(registry, limits)
        self.contracts = dict(contracts)
        self.default_contract = default_contract

    def contract_for(self, model: Model) -> RequestContract:
        """The contract that bodies for this model version must follow."""
        return self.contracts.get(str(model.version), self.default_contract)

    def read_request(
        self, payload: Any, *, model: str | None = None, version: str | None = None
    ) -> PreparedRequest:
        """Resolve the model version, then check the body against that version's contract.

        The service's one extension point (:meth:`PredictionService.read_request`):
        :meth:`~PredictionService.predict` then scores the rows with the version resolved
        here and adds ``contract_version`` and the echoed fields to the metadata.

        Raises:
            ModelNotFoundError: unknown model or version (HTTP 404).
            ValidationError: the body breaks the version's contract (HTTP 422, field named).
        """
        chosen = self.registry.get(model, version)
        contract = self.contract_for(chosen)
        request = contract.parse(payload, self.limits)
        metadata: dict[str, Any] = {"contract_version": contract.version}
        for spec in contract.fields:
            if spec.echo and spec.name in request.fields:
                metadata[spec.name] = request.fields[spec.name]
        return PreparedRequest(request.rows, chosen.name, chosen.version, metadata)


def rollout_service(
    contracts: Mapping[str, RequestContract] | None = None, registry: ModelRegistry | None = None
) -> VersionedService:
    """The demonstration's service: :func:`rollout_registry`, model v1 under CONTRACT_V1, v2 under CONTRACT_V2."""
    return VersionedService(
        registry if registry is not None else rollout_registry(),
        contracts if contracts is not None else {"1": CONTRACT_V1, "2": CONTRACT_V2},
    )


def http_status(exc: BaseException) -> int:
    """The HTTP status the REST route answers for an exception from :meth:`VersionedService.predict`."""
    if isinstance(exc, RequestTooLargeError):
        return 413
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, ModelNotFoundError):
        return 404
    return 500
