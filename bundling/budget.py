"""Time-budget selection (docs/design.md, Time budget) and the rolling cost state per combo.

``RollingCosts`` is an immutable, JSON-serialisable value (``to_json``/``from_json``) so a Faust
table can hold it: per "objective:TYPE" key it keeps the last 50 durations and an EMA with
alpha 0.2 (the first observation seeds the EMA). ``cost_per_combo`` is the rolling mean of the
last 50 runs over all combos, or the cold default of 3000 ms (a typical combo on a mid-sized
store) when nothing has run yet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from models.bundles import BundleType, Objective

TARGET_BUDGET_MS = 12_000.0
SLO_MS = 20_000.0
AVG_COMBOS_PER_OBJECTIVE = 1.5
MIN_OBJECTIVES = 2
MAX_OBJECTIVES = 6
WINDOW = 50
EMA_ALPHA = 0.2
COLD_COST_PER_COMBO_MS = 3_000.0

Combo = tuple[Objective, BundleType]


def combo_key(combo: Combo) -> str:
    return f"{Objective(combo[0]).value}:{BundleType(combo[1]).value}"


@dataclass(frozen=True)
class ComboCost:
    recent: tuple[float, ...] = ()  # last <= 50 durations, oldest first
    ema: float | None = None
    runs: int = 0

    @property
    def rolling_mean(self) -> float | None:
        return sum(self.recent) / len(self.recent) if self.recent else None


@dataclass(frozen=True)
class RollingCosts:
    combos: Mapping[str, ComboCost] = field(default_factory=dict)
    recent: tuple[float, ...] = ()  # last 50 runs over all combos, for cost_per_combo

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "combos": {
                    k: {"recent": list(v.recent), "ema": v.ema, "runs": v.runs}
                    for k, v in self.combos.items()
                },
                "recent": list(self.recent),
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str | dict[str, Any] | None) -> RollingCosts:
        if raw is None:
            return cls()
        d = orjson.loads(raw) if isinstance(raw, (bytes, str)) else raw
        return cls(
            combos={
                k: ComboCost(
                    tuple(float(x) for x in v.get("recent", ())[-WINDOW:]),
                    v.get("ema"),
                    int(v.get("runs", 0)),
                )
                for k, v in d.get("combos", {}).items()
            },
            recent=tuple(float(x) for x in d.get("recent", ())[-WINDOW:]),
        )


def ema(previous: float | None, observation: float, alpha: float = EMA_ALPHA) -> float:
    """new = alpha * observation + (1 - alpha) * previous; the first observation seeds it."""
    return observation if previous is None else alpha * observation + (1 - alpha) * previous


def update(state: RollingCosts, combo: Combo, duration_ms: float) -> RollingCosts:
    """New state with one combo duration folded in (pure; the input is not modified)."""
    key = combo_key(combo)
    cur = state.combos.get(key, ComboCost())
    new = ComboCost(
        ((*cur.recent, float(duration_ms)))[-WINDOW:],
        ema(cur.ema, float(duration_ms)),
        cur.runs + 1,
    )
    combos = dict(state.combos)
    combos[key] = new
    return RollingCosts(combos, ((*state.recent, float(duration_ms)))[-WINDOW:])


def update_many(state: RollingCosts, runs: Iterable[tuple[Combo, float]]) -> RollingCosts:
    for combo, d in runs:
        state = update(state, combo, d)
    return state


def cost_per_combo(state: RollingCosts | None, default_ms: float = COLD_COST_PER_COMBO_MS) -> float:
    """Rolling mean of the last 50 combo runs; ``default_ms`` when there is no history."""
    if state is None or not state.recent:
        return default_ms
    return sum(state.recent) / len(state.recent)


def combo_cost(
    state: RollingCosts | None, combo: Combo, default_ms: float = COLD_COST_PER_COMBO_MS
) -> float:
    """EMA cost of one combo (falls back to the global rolling mean, then the cold default)."""
    if state is not None:
        c = state.combos.get(combo_key(combo))
        if c is not None and c.ema is not None:
            return c.ema
    return cost_per_combo(state, default_ms)


def max_objectives(
    cost_per_combo_ms: float,
    target_ms: float = TARGET_BUDGET_MS,
    combos_per_objective: float = AVG_COMBOS_PER_OBJECTIVE,
) -> int:
    """clamp(floor(target / (cost_per_combo * 1.5)), 2, 6); a zero cost means 'as many as allowed'."""
    per_objective = cost_per_combo_ms * combos_per_objective
    raw = MAX_OBJECTIVES if per_objective <= 0 else math.floor(target_ms / per_objective)
    return int(min(MAX_OBJECTIVES, max(MIN_OBJECTIVES, raw)))


def over_budget(elapsed_ms: float, target_ms: float = TARGET_BUDGET_MS) -> bool:
    """Early stop: the orchestrator starts no new combo once elapsed exceeds the target."""
    return elapsed_ms > target_ms
