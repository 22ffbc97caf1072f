"""The upgrade path between schema versions: older records are upcast to the current shape.

A worker at ``SCHEMA_VERSION`` n must read what the worker before it wrote (rolling deploys,
replays of retained topics, compacted topics that keep old records for ever). So a record is
never validated against the current models as written: ``upgrade`` first lifts its JSON object
one version at a time (v -> v+1 -> ... -> n) with the upcasters registered per step, then the
current pydantic model validates the result. A record newer than n is refused: this worker does
not know what the newer fields mean, and guessing would corrupt state (it becomes a dead letter
``unsupported_version``, kept with its raw bytes for a newer worker to replay).

Version 0 is the envelope without ``schema_version``: a record that does not carry the field
(hand-built by an external producer or a script). It has the same fields as version 1, so its
step only stamps the version. The next shape change adds a step here and bumps
``SCHEMA_VERSION``; the step table must stay contiguous or this module refuses to import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from .version import SCHEMA_VERSION

PRE_VERSIONED = 0
"""The version of a record with no ``schema_version`` field (the oldest this path reads)."""

Payload = dict[str, Any]
# The dead-letter reason codes (``models.dead_letters.ReasonCode``) an upgrade can fail with.
UpgradeReason = Literal["invalid_schema", "unsupported_version"]
Upcaster = Callable[[Payload], Payload]


class UpgradeError(ValueError):
    """A record this worker cannot lift to the current version; ``reason_code`` names the dead letter."""

    def __init__(self, reason_code: UpgradeReason, reason: str) -> None:
        super().__init__(reason)
        self.reason_code = reason_code
        self.reason = reason


@dataclass(frozen=True)
class Step:
    """What changed from ``from_version`` to ``from_version + 1``, per top-level model.

    ``upcasters`` maps a model class (or its class name, for a model that imports this module)
    to a pure function that takes the record's JSON object at ``from_version`` and returns it in
    the next version's shape (nested models included). A model not named did not change in this
    step; its records only get the new version stamped.
    """

    from_version: int
    why: str
    upcasters: Mapping[type[BaseModel] | str, Upcaster] = field(default_factory=dict)

    def upcaster_for(self, model: type[BaseModel]) -> Upcaster | None:
        return self.upcasters.get(model) or self.upcasters.get(model.__name__)


class UpgradePath:
    """Steps from ``PRE_VERSIONED`` up to ``current``, exactly one per version, applied in order."""

    def __init__(self, current: int, steps: Iterable[Step]) -> None:
        self.current = current
        self.steps: dict[int, Step] = {}
        for step in steps:
            if step.from_version in self.steps:
                raise ValueError(f"two upgrade steps from schema_version {step.from_version}")
            self.steps[step.from_version] = step
        expected = set(range(PRE_VERSIONED, current))
        if set(self.steps) != expected:
            missing = sorted(expected - set(self.steps))
            extra = sorted(set(self.steps) - expected)
            raise ValueError(
                f"upgrade path to schema_version {current} is not contiguous: "
                f"missing steps from {missing}, steps past the current version from {extra}"
            )

    def version_of(self, data: Payload) -> int:
        """The record's version; a malformed or too-new one raises ``UpgradeError``."""
        if "schema_version" not in data:
            return PRE_VERSIONED
        version = data["schema_version"]
        # bool is an int subclass and "2" would be coerced by pydantic: only a real integer counts
        if not isinstance(version, int) or isinstance(version, bool):
            raise UpgradeError(
                "invalid_schema", f"schema_version must be an integer, got {version!r}"
            )
        if version > self.current:
            raise UpgradeError(
                "unsupported_version", f"schema_version {version} > supported {self.current}"
            )
        if version < PRE_VERSIONED:
            raise UpgradeError(
                "invalid_schema", f"schema_version {version} < oldest known {PRE_VERSIONED}"
            )
        return version

    def upgrade(self, model: type[BaseModel], data: Payload) -> tuple[Payload, int]:
        """``data`` lifted to the current version (a new dict), and the version it was written at."""
        written_at = self.version_of(data)
        out = dict(data)
        for version in range(written_at, self.current):
            upcaster = self.steps[version].upcaster_for(model)
            if upcaster is not None:
                try:
                    out = upcaster(out)
                except Exception as exc:
                    raise UpgradeError(
                        "invalid_schema",
                        f"upgrading {model.__name__} from schema_version "
                        f"{version} to {version + 1} failed: {type(exc).__name__}: {exc}",
                    ) from exc
            out = _stamped(out, version + 1)
        return out, written_at


def _orders_have_a_kind(data: Payload) -> Payload:
    """Version 1 order events were all orders: say so. A version 1 reader would take a version 2
    cancellation or refund for an order (it ignores ``kind``), hence the bump."""
    out = dict(data)
    out.setdefault("kind", "order")
    out.setdefault("refund_id", None)
    return out


# Levels of nesting searched for nested models' versions (a bundle set's tier sits at 5).
STAMP_DEPTH = 8


def _stamped(data: Payload, version: int) -> Payload:
    """``data`` at ``version``, nested models too: a nested model (an order's lines, a bundle
    set's metrics) carries its own ``schema_version`` as written, which moves with its record."""

    def stamp(value: Any, depth: int) -> Any:
        # our nested models sit a few levels down; deeper input is nobody's model (and hostile
        # input nests thousands deep), so it is left as is rather than walked
        if depth > STAMP_DEPTH:
            return value
        if isinstance(value, dict):
            out = {k: stamp(v, depth + 1) for k, v in value.items()}
            if isinstance(out.get("schema_version"), int):
                out["schema_version"] = version
            return out
        if isinstance(value, list):
            return [stamp(v, depth + 1) for v in value]
        return value

    top = {k: stamp(v, 1) for k, v in data.items()}
    top["schema_version"] = version
    return top


STEPS: tuple[Step, ...] = (
    Step(PRE_VERSIONED, "schema_version becomes explicit; the fields are unchanged"),
    Step(
        1,
        "OrderEvent gains kind (order, cancellation, refund) and refund_id; "
        "every earlier order event is an order",
        # by name: the models import this module, so their classes do not exist yet here
        {"OrderEvent": _orders_have_a_kind},
    ),
)

PATH = UpgradePath(SCHEMA_VERSION, STEPS)


def upgrade(model: type[BaseModel], data: Payload) -> tuple[Payload, int]:
    """``PATH.upgrade``: the record in the current shape and the version it was written at."""
    return PATH.upgrade(model, data)
