"""Cell-level parsing shared by every format: numbers, dates, safe text."""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, datetime
from functools import lru_cache

FORMULA_START = frozenset("=+-@\t\r")
# No price, cost or rating is beyond a billion; 1e308 is finite but overflows the first sum it meets.
MAX_NUMBER = 1e9
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_SLUG = re.compile(r"[^a-z0-9]+")
_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y/%m/%d %H:%M:%S",
)


class CellError(ValueError):
    """A cell that cannot be converted; the caller turns it into a BadRow with its line."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def is_formula(value: str) -> bool:
    """Spreadsheet formula injection (CWE-1236): = + - @ tab CR not followed by a plain number."""
    if not value or value[0] not in FORMULA_START:
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def safe_text(value: str) -> tuple[str, bool]:
    """Neutralise a formula cell the OWASP way (leading apostrophe); returns (text, was_formula)."""
    if value and value[0] in FORMULA_START and is_formula(value):
        return "'" + value, True
    return value, False


def parse_int(value: str, field: str) -> int:
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise CellError(f"bad_{field}", f"{field} {_show(value)} is not a number") from None
    if not math.isfinite(number) or number != int(number):
        raise CellError(f"bad_{field}", f"{field} {_show(value)} is not a whole number")
    return int(number)


def parse_float(value: str, field: str) -> float:
    text = value.strip()
    number: float | None
    try:
        number = float(text)
    except ValueError:
        try:
            number = (
                float(text.replace(",", ""))
                if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text)
                else None
            )
        except ValueError:
            number = None
        if number is None:
            raise CellError(f"bad_{field}", f"{field} {_show(value)} is not a number") from None
    if not math.isfinite(number):
        raise CellError(f"bad_{field}", f"{field} {_show(value)} is not finite")
    if not -MAX_NUMBER <= number <= MAX_NUMBER:
        raise CellError(f"bad_{field}", f"{field} {_show(value)} is out of range (beyond 1e9)")
    return number


@lru_cache(maxsize=65536)
def parse_datetime(value: str) -> datetime:
    """ISO 8601 and the export formats we meet; naive times are taken as UTC. Cached: replays repeat."""
    text = value.strip()
    if not text:
        raise CellError("bad_created_at", "created_at is empty")
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise CellError("bad_created_at", f"date {_show(value)} is not a recognised date/time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def strip_html(value: str) -> str:
    """Shopify bodies are HTML; downstream text features want plain words."""
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", value))).strip()


def slug(value: str) -> str:
    return _SLUG.sub("-", value.lower()).strip("-")


def truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "y", "t"}


def _show(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")
