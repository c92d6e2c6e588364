"""Published 10-year cardiovascular risk equations, as pure functions of plain values.

SCORE2 (ages 40-69) and SCORE2-OP (70 and over): SCORE2 working group and ESC Cardiovascular
risk collaboration, Eur Heart J 2021;42:2439-2454 (doi:10.1093/eurheartj/ehab309), and SCORE2-OP
working group, Eur Heart J 2021;42:2455-2467 (doi:10.1093/eurheartj/ehab312); supplementary
methods: sex-specific competing-risk-adjusted Cox models (log subdistribution hazard ratios),
baseline survival at 10 years, and the region recalibration on the complementary log-log scale
    risk = 1 - exp(-exp(scale1 + scale2 * ln(-ln(1 - uncalibrated risk)))).
Coefficients are the published (rounded) values; they agree with the authors' own Stata
programs (Kaptoge, Pennells, Hageman; Cambridge), which carry the same rounded values.

Framingham-BMI 2008 (no laboratory values): D'Agostino RB Sr et al., General cardiovascular risk
profile for use in primary care, Circulation 2008;117:743-753, Table 2 (the "office-based",
BMI model): risk = 1 - S0 ** exp(sum(beta * x) - mean(sum(beta * x))).

Diabetes is part of the published models but SCORE2 is not meant for people with diabetes; the
app sends people with diabetes elsewhere, so the diabetes terms are always zero here."""

import math
from dataclasses import dataclass
from enum import StrEnum


class Sex(StrEnum):
    male = "male"
    female = "female"


class Region(StrEnum):
    """ESC 2021 risk regions by national CVD mortality; Uzbekistan and Russia are very high."""

    low = "low"
    moderate = "moderate"
    high = "high"
    very_high = "very_high"


class RiskModel(StrEnum):
    score2 = "SCORE2"
    score2_op = "SCORE2-OP"
    framingham_bmi = "Framingham-BMI 2008"


class Category(StrEnum):
    """ESC 2021 prevention guideline categories for apparently healthy people."""

    low_to_moderate = "low_to_moderate"
    high = "high"
    very_high = "very_high"


SCORE2_AGES = (40, 69)
SCORE2_OP_AGES = (70, 89)
FRAMINGHAM_AGES = (30, 74)


@dataclass(frozen=True)
class Coefficients:
    age: float
    smoking: float
    sbp: float
    tchol: float
    hdl: float
    smoking_age: float
    sbp_age: float
    tchol_age: float
    hdl_age: float
    baseline_survival: float
    mean_linear_predictor: float = 0.0


# SCORE2 supplementary methods, Table 2 (log SHR); baseline survival at 10 years.
SCORE2_COEFFICIENTS = {
    Sex.male: Coefficients(
        age=0.3742,
        smoking=0.6012,
        sbp=0.2777,
        tchol=0.1458,
        hdl=-0.2698,
        smoking_age=-0.0755,
        sbp_age=-0.0255,
        tchol_age=-0.0281,
        hdl_age=0.0426,
        baseline_survival=0.9605,
    ),
    Sex.female: Coefficients(
        age=0.4648,
        smoking=0.7744,
        sbp=0.3131,
        tchol=0.1002,
        hdl=-0.2606,
        smoking_age=-0.1088,
        sbp_age=-0.0277,
        tchol_age=-0.0226,
        hdl_age=0.0613,
        baseline_survival=0.9776,
    ),
}

# SCORE2 supplementary methods, Table 3: (scale1, scale2) per region and sex.
SCORE2_CALIBRATION = {
    Region.low: {Sex.male: (-0.5699, 0.7476), Sex.female: (-0.7380, 0.7019)},
    Region.moderate: {Sex.male: (-0.1565, 0.8009), Sex.female: (-0.3143, 0.7701)},
    Region.high: {Sex.male: (0.3207, 0.9360), Sex.female: (0.5710, 0.9369)},
    Region.very_high: {Sex.male: (0.5836, 0.8294), Sex.female: (0.9412, 0.8329)},
}

# SCORE2-OP supplementary methods: age centred at 73 (per year), SBP at 150 mmHg (per mmHg),
# total cholesterol at 6 and HDL at 1.4 mmol/L (per mmol/L); the linear predictor is centred
# on the derivation cohort's mean.
SCORE2_OP_COEFFICIENTS = {
    Sex.male: Coefficients(
        age=0.0634,
        smoking=0.3524,
        sbp=0.0094,
        tchol=0.0850,
        hdl=-0.3564,
        smoking_age=-0.0247,
        sbp_age=-0.0005,
        tchol_age=0.0073,
        hdl_age=0.0091,
        baseline_survival=0.7576,
        mean_linear_predictor=0.0929,
    ),
    Sex.female: Coefficients(
        age=0.0789,
        smoking=0.4921,
        sbp=0.0102,
        tchol=0.0605,
        hdl=-0.3040,
        smoking_age=-0.0255,
        sbp_age=-0.0004,
        tchol_age=-0.0009,
        hdl_age=0.0154,
        baseline_survival=0.8082,
        mean_linear_predictor=0.2288,
    ),
}

# SCORE2-OP recalibration, as published (two decimals).
SCORE2_OP_CALIBRATION = {
    Region.low: {Sex.male: (-0.34, 1.19), Sex.female: (-0.52, 1.01)},
    Region.moderate: {Sex.male: (0.01, 1.25), Sex.female: (-0.10, 1.10)},
    Region.high: {Sex.male: (0.08, 1.15), Sex.female: (0.38, 1.09)},
    Region.very_high: {Sex.male: (0.05, 0.70), Sex.female: (0.38, 0.69)},
}


@dataclass(frozen=True)
class FraminghamCoefficients:
    ln_age: float
    ln_bmi: float
    ln_sbp_untreated: float
    ln_sbp_treated: float
    smoking: float
    baseline_survival: float
    mean_sum: float


# D'Agostino 2008, Table 2, BMI-based model (diabetes term omitted: always 0 here).
FRAMINGHAM_BMI_COEFFICIENTS = {
    Sex.male: FraminghamCoefficients(
        ln_age=3.11296,
        ln_bmi=0.79277,
        ln_sbp_untreated=1.85508,
        ln_sbp_treated=1.92672,
        smoking=0.70953,
        baseline_survival=0.88431,
        mean_sum=23.9388,
    ),
    Sex.female: FraminghamCoefficients(
        ln_age=2.72107,
        ln_bmi=0.51125,
        ln_sbp_untreated=2.81291,
        ln_sbp_treated=2.88267,
        smoking=0.61868,
        baseline_survival=0.94833,
        mean_sum=26.0145,
    ),
}

# ESC 2021 prevention guideline, Table 4: thresholds (%) of "high" and "very high" by age band.
CATEGORY_THRESHOLDS = ((50, 2.5, 7.5), (70, 5.0, 10.0), (200, 7.5, 15.0))


@dataclass(frozen=True)
class LabProfile:
    """Risk factors of the laboratory models; cholesterol in mmol/L."""

    age: float
    sex: Sex
    smoking: bool
    systolic_bp: float
    total_cholesterol: float
    hdl_cholesterol: float


@dataclass(frozen=True)
class OfficeProfile:
    """Risk factors of the non-laboratory model."""

    age: float
    sex: Sex
    smoking: bool
    systolic_bp: float
    bp_treated: bool
    bmi: float


def _recalibrate(risk: float, scales: tuple[float, float]) -> float:
    scale1, scale2 = scales
    return 1 - math.exp(-math.exp(scale1 + scale2 * math.log(-math.log(1 - risk))))


def _linear_predictor(
    c: Coefficients, age: float, smoking: bool, sbp: float, tchol: float, hdl: float
) -> float:
    smoker = 1.0 if smoking else 0.0
    return (
        c.age * age
        + c.smoking * smoker
        + c.sbp * sbp
        + c.tchol * tchol
        + c.hdl * hdl
        + c.smoking_age * age * smoker
        + c.sbp_age * age * sbp
        + c.tchol_age * age * tchol
        + c.hdl_age * age * hdl
        - c.mean_linear_predictor
    )


def score2(profile: LabProfile, region: Region) -> float:
    """SCORE2 10-year risk of fatal and non-fatal CVD, as a fraction (0..1)."""
    c = SCORE2_COEFFICIENTS[profile.sex]
    lp = _linear_predictor(
        c,
        age=(profile.age - 60) / 5,
        smoking=profile.smoking,
        sbp=(profile.systolic_bp - 120) / 20,
        tchol=profile.total_cholesterol - 6,
        hdl=(profile.hdl_cholesterol - 1.3) / 0.5,
    )
    uncalibrated = 1 - c.baseline_survival ** math.exp(lp)
    return _recalibrate(uncalibrated, SCORE2_CALIBRATION[region][profile.sex])


def score2_op(profile: LabProfile, region: Region) -> float:
    """SCORE2-OP 10-year risk of fatal and non-fatal CVD (competing-risk adjusted), 0..1."""
    c = SCORE2_OP_COEFFICIENTS[profile.sex]
    lp = _linear_predictor(
        c,
        age=profile.age - 73,
        smoking=profile.smoking,
        sbp=profile.systolic_bp - 150,
        tchol=profile.total_cholesterol - 6,
        hdl=profile.hdl_cholesterol - 1.4,
    )
    uncalibrated = 1 - c.baseline_survival ** math.exp(lp)
    return _recalibrate(uncalibrated, SCORE2_OP_CALIBRATION[region][profile.sex])


def lab_model_for(age: float) -> RiskModel:
    return RiskModel.score2 if age < 70 else RiskModel.score2_op


def lab_risk(profile: LabProfile, region: Region) -> float:
    """SCORE2 under 70, SCORE2-OP from 70: the ESC 2021 pair of models."""
    return score2(profile, region) if profile.age < 70 else score2_op(profile, region)


def framingham_bmi(profile: OfficeProfile) -> float:
    """Framingham 2008 BMI-based 10-year risk of general CVD, 0..1."""
    c = FRAMINGHAM_BMI_COEFFICIENTS[profile.sex]
    ln_sbp = c.ln_sbp_treated if profile.bp_treated else c.ln_sbp_untreated
    total = (
        c.ln_age * math.log(profile.age)
        + c.ln_bmi * math.log(profile.bmi)
        + ln_sbp * math.log(profile.systolic_bp)
        + c.smoking * (1.0 if profile.smoking else 0.0)
    )
    return 1 - c.baseline_survival ** math.exp(total - c.mean_sum)


def category(age: float, risk_percent: float) -> Category:
    """ESC 2021 category for the person's age band (<50, 50-69, 70+)."""
    for below_age, high, very_high in CATEGORY_THRESHOLDS:
        if age < below_age:
            if risk_percent >= very_high:
                return Category.very_high
            return Category.high if risk_percent >= high else Category.low_to_moderate
    raise ValueError("age out of range")


def as_percent(risk: float) -> float:
    """Risk as a percentage with one decimal, as the ESC charts and calculators show it."""
    return round(risk * 100, 1)
