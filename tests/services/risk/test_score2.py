"""The risk equations against published values.

Sources of the vectors:
- SCORE2: SCORE2 working group and ESC Cardiovascular risk collaboration, Eur Heart J
  2021;42:2439-2454, abstract ("Methods and results"): a 50-year-old smoker, systolic 140 mmHg,
  total cholesterol 5.5 mmol/L, HDL 1.3 mmol/L has a 10-year risk of 5.9 % (men) and 4.2 %
  (women) in low-risk countries and 14.0 % (men) and 13.7 % (women) in very-high-risk countries.
- SCORE2-OP: no worked example is published in the paper's text; the equation is checked
  against the authors' own reference program (S Kaptoge, L Pennells, S Hageman, University of
  Cambridge, Stata `score2oprisk`, Sep 2021), which carries the unrounded coefficients, baseline
  survival, mean linear predictor and region scales of Eur Heart J 2021;42:2455-2467. Rounding
  the published coefficients moves the risk by well under half a percentage point.
- Categories: ESC 2021 prevention guideline (Eur Heart J 2021;42:3227-3337), Table 4.
- Framingham-BMI 2008: D'Agostino RB Sr et al., Circulation 2008;117:743-753, Table 2 (BMI
  model). At the cohort's mean linear predictor the model's risk is 1 - S0(10) by construction.
"""

import math

import pytest

from services.risk.score2 import (
    FRAMINGHAM_BMI_COEFFICIENTS,
    Category,
    LabProfile,
    OfficeProfile,
    Region,
    RiskModel,
    Sex,
    as_percent,
    category,
    framingham_bmi,
    lab_model_for,
    lab_risk,
    score2,
    score2_op,
)

ABSTRACT_PROFILE = {
    "age": 50,
    "smoking": True,
    "systolic_bp": 140,
    "total_cholesterol": 5.5,
    "hdl_cholesterol": 1.3,
}


@pytest.mark.parametrize(
    ("sex", "region", "published_percent"),
    [
        # SCORE2 paper, abstract: 5.9 % for men in low-risk countries.
        (Sex.male, Region.low, 5.9),
        # SCORE2 paper, abstract: 14.0 % for men in very-high-risk countries.
        (Sex.male, Region.very_high, 14.0),
        # SCORE2 paper, abstract: 4.2 % for women in low-risk countries.
        (Sex.female, Region.low, 4.2),
        # SCORE2 paper, abstract: 13.7 % for women in very-high-risk countries.
        (Sex.female, Region.very_high, 13.7),
    ],
)
def test_score2_reproduces_the_papers_worked_example(
    sex: Sex, region: Region, published_percent: float
) -> None:
    profile = LabProfile(sex=sex, **ABSTRACT_PROFILE)
    assert as_percent(score2(profile, region)) == published_percent


def test_the_regions_order_the_risk_of_one_profile() -> None:
    for sex in Sex:
        profile = LabProfile(sex=sex, **ABSTRACT_PROFILE)
        risks = [
            score2(profile, region) for region in (Region.low, Region.moderate, Region.high, Region.very_high)
        ]
        assert risks == sorted(risks)


# The authors' Stata program `score2oprisk` (unrounded values; see the module docstring).
OP_REFERENCE = {
    Sex.male: {
        "terms": (0.0633767915, 0.3523957899, -0.0247205945, 0.0094362177, -0.0004794522),
        "chol": (0.0849594156, 0.0073336663, -0.3563571842, 0.0091317857),
        "mean": 0.09285225,
        "s0": 1 - 0.24235298,
        "scales": {Region.low: (-0.343484, 1.193038), Region.very_high: (0.045959, 0.703625)},
    },
    Sex.female: {
        "terms": (0.0789191229, 0.4921147010, -0.0255496313, 0.0101993091, -0.0004404728),
        "chol": (0.0604939598, -0.0009121461, -0.3040280248, 0.0153779923),
        "mean": 0.2287676,
        "s0": 1 - 0.19178759,
        "scales": {Region.low: (-0.516054, 1.007238), Region.very_high: (0.379293, 0.691530)},
    },
}


def _op_reference(profile: LabProfile, region: Region) -> float:
    ref = OP_REFERENCE[profile.sex]
    age_b, smoke_b, smoke_age_b, sbp_b, sbp_age_b = ref["terms"]  # type: ignore[misc]
    tchol_b, tchol_age_b, hdl_b, hdl_age_b = ref["chol"]  # type: ignore[misc]
    age, sbp = profile.age - 73, profile.systolic_bp - 150
    tchol, hdl, smoker = profile.total_cholesterol - 6, profile.hdl_cholesterol - 1.4, float(profile.smoking)
    lp = (
        age_b * age
        + smoke_b * smoker
        + smoke_age_b * smoker * age
        + sbp_b * sbp
        + sbp_age_b * age * sbp
        + tchol_b * tchol
        + tchol_age_b * age * tchol
        + hdl_b * hdl
        + hdl_age_b * age * hdl
        - ref["mean"]  # type: ignore[operator]
    )
    uncalibrated = 1 - ref["s0"] ** math.exp(lp)  # type: ignore[operator]
    scale1, scale2 = ref["scales"][region]  # type: ignore[index]
    return 1 - math.exp(-math.exp(scale1 + scale2 * math.log(-math.log(1 - uncalibrated))))


@pytest.mark.parametrize("sex", list(Sex))
@pytest.mark.parametrize("region", [Region.low, Region.very_high])
@pytest.mark.parametrize(
    "factors",
    [
        {"age": 70, "smoking": False, "systolic_bp": 120, "total_cholesterol": 4.0, "hdl_cholesterol": 1.6},
        {"age": 75, "smoking": True, "systolic_bp": 160, "total_cholesterol": 5.0, "hdl_cholesterol": 1.3},
        {"age": 85, "smoking": False, "systolic_bp": 180, "total_cholesterol": 7.0, "hdl_cholesterol": 1.0},
    ],
)
def test_score2_op_agrees_with_the_authors_reference_program(
    sex: Sex, region: Region, factors: dict[str, float]
) -> None:
    profile = LabProfile(sex=sex, **factors)  # type: ignore[arg-type]
    assert abs(as_percent(score2_op(profile, region)) - 100 * _op_reference(profile, region)) < 0.5


def test_the_model_follows_age() -> None:
    assert lab_model_for(69) is RiskModel.score2
    assert lab_model_for(70) is RiskModel.score2_op
    older = LabProfile(sex=Sex.male, **{**ABSTRACT_PROFILE, "age": 72})
    assert lab_risk(older, Region.very_high) == score2_op(older, Region.very_high)


@pytest.mark.parametrize(
    ("age", "percent", "expected"),
    [
        # ESC 2021 Table 4: under 50, <2.5 % / 2.5 to <7.5 % / >=7.5 %.
        (45, 2.4, Category.low_to_moderate),
        (45, 2.5, Category.high),
        (49, 7.5, Category.very_high),
        # 50-69: <5 % / 5 to <10 % / >=10 %.
        (50, 4.9, Category.low_to_moderate),
        (60, 5.0, Category.high),
        (69, 10.0, Category.very_high),
        # 70 and over (SCORE2-OP): <7.5 % / 7.5 to <15 % / >=15 %.
        (70, 7.4, Category.low_to_moderate),
        (80, 7.5, Category.high),
        (89, 15.0, Category.very_high),
    ],
)
def test_esc_categories_by_age_band(age: int, percent: float, expected: Category) -> None:
    assert category(age, percent) is expected


@pytest.mark.parametrize(("sex", "baseline"), [(Sex.male, 0.88431), (Sex.female, 0.94833)])
def test_framingham_bmi_at_the_cohort_mean_is_one_minus_baseline_survival(sex: Sex, baseline: float) -> None:
    # Choose the age whose linear predictor equals the published mean sum (Table 2).
    c = FRAMINGHAM_BMI_COEFFICIENTS[sex]
    rest = c.ln_bmi * math.log(26) + c.ln_sbp_untreated * math.log(130)
    age = math.exp((c.mean_sum - rest) / c.ln_age)
    profile = OfficeProfile(age=age, sex=sex, smoking=False, systolic_bp=130, bp_treated=False, bmi=26)
    assert framingham_bmi(profile) == pytest.approx(1 - baseline, abs=1e-9)


def test_framingham_bmi_example_computed_from_table_2() -> None:
    # Man, 50, smoker, systolic 140 untreated, BMI 27, from Table 2's coefficients by hand:
    # 3.11296 ln50 + 0.79277 ln27 + 1.85508 ln140 + 0.70953 - 23.9388 = 0.72868;
    # 1 - 0.88431 ** exp(0.72868) = 0.2249.
    profile = OfficeProfile(age=50, sex=Sex.male, smoking=True, systolic_bp=140, bp_treated=False, bmi=27)
    assert framingham_bmi(profile) == pytest.approx(0.2249, abs=5e-5)
    treated = OfficeProfile(age=50, sex=Sex.male, smoking=True, systolic_bp=140, bp_treated=True, bmi=27)
    assert framingham_bmi(treated) > framingham_bmi(profile)
