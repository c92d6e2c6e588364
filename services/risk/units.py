"""Units of the risk factors and the plausibility checks that catch a confused unit (a mg/dL
value sent as mmol/L and the reverse, a height in metres sent as centimetres).

Each check answers None (fine) or a Problem: which code, which text (an N_ msgid) and its
parameters; the service names the field and translates."""

from dataclasses import dataclass, field
from enum import StrEnum

from i18n import N_

MG_DL_PER_MMOL_L = 38.67  # cholesterol: molar mass 386.65 g/mol


class CholesterolUnit(StrEnum):
    mmol_l = "mmol/L"
    mg_dl = "mg/dL"


# Plausible values in mmol/L (outside them a measurement error is far likelier than a person).
CHOLESTEROL_RANGES = {"total_cholesterol": (2.0, 15.0), "hdl_cholesterol": (0.3, 4.0)}
SYSTOLIC_RANGE = (70, 300)
HEIGHT_CM_RANGE = (120, 230)
WEIGHT_KG_RANGE = (30, 300)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    params: dict[str, object] = field(default_factory=dict)


OUT_OF_RANGE = N_("{field} must be between {min} and {max} {unit}.")
LOOKS_LIKE_MG_DL = N_(
    "{field} {value} mmol/L looks like a value in mg/dL. Choose mg/dL as the unit, or enter the value in "
    "mmol/L (mg/dL divided by 38.67)."
)
LOOKS_LIKE_MMOL_L = N_(
    "{field} {value} mg/dL looks like a value in mmol/L. Choose mmol/L as the unit, or enter the value in "
    "mg/dL (mmol/L multiplied by 38.67)."
)
LOOKS_LIKE_METRES = N_("{field} {value} cm looks like a height in metres. Enter it in centimetres, e.g. 172.")


def _number(value: float) -> str:
    return f"{value:g}"


def to_mmol_l(value: float, unit: CholesterolUnit) -> float:
    return value if unit is CholesterolUnit.mmol_l else value / MG_DL_PER_MMOL_L


def cholesterol_range(name: str, unit: CholesterolUnit) -> tuple[float, float]:
    low, high = CHOLESTEROL_RANGES[name]
    if unit is CholesterolUnit.mmol_l:
        return low, high
    return round(low * MG_DL_PER_MMOL_L), round(high * MG_DL_PER_MMOL_L)


def check_cholesterol(name: str, value: float, unit: CholesterolUnit) -> Problem | None:
    low, high = CHOLESTEROL_RANGES[name]
    in_mmol = to_mmol_l(value, unit)
    if low <= in_mmol <= high:
        return None
    if unit is CholesterolUnit.mmol_l and low <= value / MG_DL_PER_MMOL_L <= high:
        return Problem("unit_mismatch", LOOKS_LIKE_MG_DL, {"value": _number(value)})
    if unit is CholesterolUnit.mg_dl and low <= value <= high:
        return Problem("unit_mismatch", LOOKS_LIKE_MMOL_L, {"value": _number(value)})
    shown_low, shown_high = cholesterol_range(name, unit)
    return Problem("out_of_range", OUT_OF_RANGE, {"min": shown_low, "max": shown_high, "unit": unit.value})


def check_range(value: float, bounds: tuple[float, float], unit: str) -> Problem | None:
    low, high = bounds
    if low <= value <= high:
        return None
    return Problem("out_of_range", OUT_OF_RANGE, {"min": _number(low), "max": _number(high), "unit": unit})


def check_height(value: float) -> Problem | None:
    low, high = HEIGHT_CM_RANGE
    if not low <= value <= high and low <= value * 100 <= high:
        return Problem("unit_mismatch", LOOKS_LIKE_METRES, {"value": _number(value)})
    return check_range(value, HEIGHT_CM_RANGE, "cm")


def bmi(height_cm: float, weight_kg: float) -> float:
    return weight_kg / (height_cm / 100) ** 2
