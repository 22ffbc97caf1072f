"""Accounting of one parsed file, so every data row ends up somewhere we can count."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from models.bundles import BadRow

MAX_KEPT = 1000  # GenerationMetrics.bad_rows holds at most 1000; counts stay exact beyond it.


@dataclass
class IngestReport:
    """Row accounting: ``rows == used_rows + attached_rows + skipped_rows + bad_row_count``.

    Skips are rows we understood and deliberately left out (cancellations, returns); bad rows
    are rows we could not use. Warnings are rows that were used but altered (formula cells
    neutralised, undecodable bytes replaced), kept apart so nothing is counted twice.
    """

    file: str
    format: str = ""
    rows: int = 0
    used_rows: int = 0
    attached_rows: int = 0
    blank_lines: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_orders: Counter = field(default_factory=Counter)
    bad_rows: list[BadRow] = field(default_factory=list)
    bad_by_reason: Counter = field(default_factory=Counter)
    warnings: list[BadRow] = field(default_factory=list)
    warnings_by_reason: Counter = field(default_factory=Counter)
    events: int = 0
    split_orders: int = 0
    parse_ms: float = 0.0

    @property
    def bad_row_count(self) -> int:
        return sum(self.bad_by_reason.values())

    @property
    def skipped_rows(self) -> int:
        return sum(self.skipped.values())

    @property
    def accounted(self) -> bool:
        return (
            self.rows
            == self.used_rows + self.attached_rows + self.skipped_rows + self.bad_row_count
        )

    def bad(self, line: int, code: str, detail: str = "") -> None:
        """Record an unusable row; ``code`` is the machine-readable part counted by reason."""
        self.bad_by_reason[code] += 1
        if len(self.bad_rows) < MAX_KEPT:
            self.bad_rows.append(
                BadRow(file=self.file, line=line, reason=f"{code}: {detail}" if detail else code)
            )

    def warn(self, line: int, code: str, detail: str = "") -> None:
        self.warnings_by_reason[code] += 1
        if len(self.warnings) < MAX_KEPT:
            self.warnings.append(
                BadRow(file=self.file, line=line, reason=f"{code}: {detail}" if detail else code)
            )

    def skip(self, code: str, rows: int = 1) -> None:
        self.skipped[code] += rows

    def summary(self) -> dict:
        """A JSON-friendly digest for CLI output and metrics records."""
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "used_rows": self.used_rows,
            "attached_rows": self.attached_rows,
            "skipped": dict(self.skipped),
            "skipped_orders": dict(self.skipped_orders),
            "bad_rows": self.bad_row_count,
            "bad_by_reason": dict(self.bad_by_reason),
            "warnings": dict(self.warnings_by_reason),
            "events": self.events,
            "split_orders": self.split_orders,
            "parse_ms": round(self.parse_ms, 1),
            "accounted": self.accounted,
        }
