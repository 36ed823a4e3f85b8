"""An agency's rule settings: the programs' defaults, each one configurable.

Stored as one JSON document in the database (`attend agency show|set`), so the command line
and the web admin page edit the same thing. Unknown keys are refused, not ignored.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from attendance.errors import DomainError
from attendance.flags import FLAG_CODES, Disposition

# Absence categories; every absence code on the sheet belongs to one (see `absence_category`).
EXCUSED = "excused"
BEST_INTEREST = "best_interest"
UNEXCUSED = "unexcused"
PROVIDER_CLOSED = "provider_closed"
ABSENCE_CATEGORIES = (EXCUSED, BEST_INTEREST, UNEXCUSED, PROVIDER_CLOSED)

_CATEGORY_OF_CODE = {
    "child_ill": EXCUSED,
    "parent_ill_appointment": EXCUSED,
    "family_emergency": EXCUSED,
    "court_ordered_visit": EXCUSED,
    "best_interest": BEST_INTEREST,
    "unexcused": UNEXCUSED,
    "provider_closed": PROVIDER_CLOSED,
}


def absence_category(code: str) -> str:
    """The category an absence code (`forms.layout.ABSENCE_CODES`) is counted in."""
    return _CATEGORY_OF_CODE[code]


def _default_limits() -> dict[str, int | None]:
    # Days per fiscal year; None is unlimited. Excused absences are unlimited for licensed
    # providers; exempt providers are not paid for any absence, whatever the limit.
    return {EXCUSED: None, BEST_INTEREST: 10, UNEXCUSED: None, PROVIDER_CLOSED: 10}


class InvalidSetting(DomainError, ValueError):
    """A setting name or value the agency configuration does not accept."""


# How payable hours are computed (CDE MB 14-04): on the certified need when the record is
# complete, or on the actual days and hours of care within the authorized ones, capped at the
# certified maximum. Each certificate falls under one of these keys.
CERTIFIED_NEED = "certified_need"
ACTUAL_CAPPED = "actual_capped"
PAYABLE_RULES = (CERTIFIED_NEED, ACTUAL_CAPPED)
PAYABLE_RULE_KEYS = ("full_time", "part_time", "variable", "exempt_part_time")


def _default_payable_rules() -> dict[str, str]:
    # Licensed full-time and part-time care: the certified need; variable schedules and
    # license-exempt part-time care: actual days and hours up to the certified maximum.
    return {
        "full_time": CERTIFIED_NEED,
        "part_time": CERTIFIED_NEED,
        "variable": ACTUAL_CAPPED,
        "exempt_part_time": ACTUAL_CAPPED,
    }


# What a photo sent from a provider's phone is (AgencyConfig.phone_photos).
PHOTO_SUBMISSION = "submission"
PHOTO_ADVANCE_COPY = "advance_copy"
PHOTOS_OFF = "off"
PHONE_PHOTO_MODES = (PHOTO_SUBMISSION, PHOTO_ADVANCE_COPY, PHOTOS_OFF)


def payable_rule_key(schedule_type: str, provider_type: str) -> str:
    """Which `payable_rule.KEY` a certificate falls under."""
    if schedule_type == "variable":
        return "variable"
    if provider_type == "exempt" and schedule_type == "part_time":
        return "exempt_part_time"
    return schedule_type


@dataclass(frozen=True)
class AgencyConfig:
    """Rule limits, deadlines, holidays and review settings of one agency."""

    timezone: str = "America/Los_Angeles"  # the agency's local dates (due dates, received)
    holidays: tuple[dt.date, ...] = ()
    due_day: int = 5  # due by this day of the following month (next business day)
    june_due_day: int = 15  # June sheets: due by this day of July
    past_due_days: int = 30  # received more than this many days after the month -> past due
    window_tolerance_minutes: int = 15
    weekly_consistency: float = 0.25  # a week off certified need by more than this share
    # The month's attended hours off the certified need by more than this share: the sheet
    # finding hours_inconsistent.
    hours_consistency: float = 0.25
    absence_limits: dict[str, int | None] = field(default_factory=_default_limits)
    qa_sample_rate: float = 0.02  # share of auto-accepted time fields and signatures checked
    qa_batch_cap: int = 10  # at most this many QA samples per intake batch
    # Flag code -> review | note | off, where the agency differs from the code's default.
    dispositions: dict[str, str] = field(default_factory=dict)
    # payable_rule.KEY -> certified_need | actual_capped (see PAYABLE_RULE_KEYS).
    payable_rules: dict[str, str] = field(default_factory=_default_payable_rules)
    claim_minutes: int = 15  # how long a reviewer holds claimed items
    return_address: str = ""  # where providers mail corrected sheets (returned notices)
    agency_phone: str = ""  # printed on notices when a certificate has no specialist phone
    # Printed on sheets and notices, shown in the web app; empty: ATTEND_AGENCY_NAME.
    agency_name: str = ""
    # The payment calendar (attendance.payments): received by the cutoff day of a month
    # (next business day), paid on the payment day of that month; June sheets until July's
    # june_payment_cutoff_day.
    payment_day: int = 20
    payment_cutoff_day: int = 5
    june_payment_cutoff_day: int = 15
    # Photos of sheets sent from a provider's phone: "submission" (a photo is the sheet, as a
    # scan is), "advance_copy" (recorded and read, but the sheet waits for the original:
    # programs that pay only on originals) or "off" (no photo upload).
    phone_photos: str = "advance_copy"

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            raise InvalidSetting(f"timezone {self.timezone!r} is not a known time zone") from error
        for name in ("due_day", "june_due_day", "payment_cutoff_day", "june_payment_cutoff_day"):
            if not 1 <= getattr(self, name) <= 28:
                raise InvalidSetting(f"{name} must be a day from 1 to 28")
        for name in ("past_due_days", "window_tolerance_minutes", "claim_minutes", "qa_batch_cap"):
            if getattr(self, name) < 0:
                raise InvalidSetting(f"{name} must not be negative")
        if not 1 <= self.payment_day <= 28:
            raise InvalidSetting("payment_day must be a day from 1 to 28")
        if self.phone_photos not in PHONE_PHOTO_MODES:
            raise InvalidSetting(f"phone_photos must be {', '.join(PHONE_PHOTO_MODES)}")
        if self.claim_minutes < 1:
            raise InvalidSetting("claim_minutes must be at least 1")
        for name in ("weekly_consistency", "hours_consistency", "qa_sample_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InvalidSetting(f"{name} must be a number from 0 to 1")
        unknown = set(self.absence_limits) - set(ABSENCE_CATEGORIES)
        if unknown:
            raise InvalidSetting(
                f"absence_limits: unknown category {sorted(unknown)[0]!r} "
                f"(categories: {', '.join(ABSENCE_CATEGORIES)})"
            )
        for category, limit in self.absence_limits.items():
            if limit is not None and (not isinstance(limit, int) or limit < 0):
                raise InvalidSetting(f"absence_limits.{category} must be a whole number or none")
        for code, disposition in self.dispositions.items():
            if code not in FLAG_CODES:
                raise InvalidSetting(f"disposition.{code}: no flag has that code")
            if disposition not in {d.value for d in Disposition}:
                raise InvalidSetting(f"disposition.{code} must be review, note or off")
        for key, rule in self.payable_rules.items():
            if key not in PAYABLE_RULE_KEYS:
                raise InvalidSetting(
                    f"payable_rule.{key}: unknown (keys: {', '.join(PAYABLE_RULE_KEYS)})"
                )
            if rule not in PAYABLE_RULES:
                raise InvalidSetting(f"payable_rule.{key} must be {' or '.join(PAYABLE_RULES)}")

    def disposition(self, code: str) -> Disposition:
        """What becomes of flag `code` at this agency (its default unless set)."""
        return Disposition(self.dispositions.get(code, FLAG_CODES[code].disposition))

    def payable_rule(self, schedule_type: str, provider_type: str) -> str:
        """How a certificate's payable hours are computed at this agency."""
        key = payable_rule_key(schedule_type, provider_type)
        return {**_default_payable_rules(), **self.payable_rules}[key]

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def local_date(self, moment: dt.datetime) -> dt.date:
        """The agency's calendar date at `moment` (timezone-aware, as every stored moment is:
        `attendance.models.UtcDateTime`)."""
        if moment.tzinfo is None:
            raise ValueError("local_date needs a timezone-aware moment")
        return moment.astimezone(self.zone).date()

    def limit(self, category: str) -> int | None:
        return {**_default_limits(), **self.absence_limits}.get(category)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["holidays"] = [day.isoformat() for day in self.holidays]
        data["absence_limits"] = {**_default_limits(), **self.absence_limits}
        data["payable_rules"] = {**_default_payable_rules(), **self.payable_rules}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AgencyConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidSetting(f"unknown setting {sorted(unknown)[0]!r}")
        values = dict(data)
        if "holidays" in values:
            values["holidays"] = tuple(sorted({_date(v) for v in values["holidays"]}))
        if "absence_limits" in values:
            values["absence_limits"] = {**_default_limits(), **values["absence_limits"]}
        if "payable_rules" in values:
            values["payable_rules"] = {**_default_payable_rules(), **values["payable_rules"]}
        return cls(**values)

    def with_setting(self, key: str, text: str) -> AgencyConfig:
        """A copy with `key` set from command-line text (`absence_limits.best_interest 12`,
        `holidays 2026-12-25,2027-01-01`, `qa_sample_rate 0.05`)."""
        data = self.to_json()
        if key.startswith("absence_limits."):
            category = key.split(".", 1)[1]
            if category not in ABSENCE_CATEGORIES:
                raise InvalidSetting(
                    f"unknown absence category {category!r} "
                    f"(categories: {', '.join(ABSENCE_CATEGORIES)})"
                )
            data["absence_limits"][category] = _limit(text)
            return AgencyConfig.from_json(data)
        if key.startswith("disposition."):
            code = key.split(".", 1)[1]
            if code not in FLAG_CODES:
                raise InvalidSetting(f"unknown flag code {code!r} (see the README's flag table)")
            data["dispositions"][code] = text.strip().lower()
            if data["dispositions"][code] == FLAG_CODES[code].disposition:
                del data["dispositions"][code]  # back to the default: stored as none
            return AgencyConfig.from_json(data)
        if key.startswith("payable_rule."):
            data["payable_rules"][key.split(".", 1)[1]] = text.strip().lower()
            return AgencyConfig.from_json(data)
        fields_by_name = {f.name: f for f in dataclasses.fields(AgencyConfig)}
        if key not in fields_by_name or key in _DICT_SETTINGS:
            raise InvalidSetting(
                f"unknown setting {key!r} (settings: {', '.join(settable_keys())})"
            )
        current = data[key]
        value: Any
        if key == "holidays":
            value = [d.strip() for d in text.split(",") if d.strip()]
        elif isinstance(current, bool):
            value = text.strip().lower() in ("1", "true", "yes", "on")
        elif isinstance(current, int):
            value = _number(key, text, int)
        elif isinstance(current, float):
            value = _number(key, text, float)
        else:
            value = text
        data[key] = value
        return AgencyConfig.from_json(data)


_DICT_SETTINGS = ("absence_limits", "dispositions", "payable_rules")


def settable_keys() -> list[str]:
    """Every key `with_setting` accepts."""
    keys = [f.name for f in dataclasses.fields(AgencyConfig) if f.name not in _DICT_SETTINGS]
    return (
        keys
        + [f"absence_limits.{c}" for c in ABSENCE_CATEGORIES]
        + [f"payable_rule.{k}" for k in PAYABLE_RULE_KEYS]
        + [f"disposition.{code}" for code in FLAG_CODES]
    )


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as error:
        raise InvalidSetting(f"holiday {value!r} is not a date YYYY-MM-DD") from error


def _limit(text: str) -> int | None:
    if text.strip().lower() in ("none", "unlimited", ""):
        return None
    return int(_number("absence limit", text, int))


def _number(key: str, text: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(text.strip())
    except ValueError as error:
        raise InvalidSetting(f"{key} must be a number, got {text!r}") from error


def dumps(config: AgencyConfig) -> str:
    return json.dumps(config.to_json(), sort_keys=True)
