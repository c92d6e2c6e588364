"""The rule table: sourced thresholds, translated advice, and triage as the rules say."""

import pytest

from ecg_ml.io import common
from ecg_ml.quality import REFUSING
from ecg_ml.recommend import (
    FINDING_TEXTS,
    REASON_TEXTS,
    RECOMMENDATION_TEXTS,
    TRIAGE_TEXTS,
    advise,
    not_interpretable_advice,
    rule_table,
)

NORMAL = {"heart_rate_bpm": 72.0, "qtc_bazett_ms": 420.0, "rhythm": "regular"}


def test_every_rule_cites_its_source_and_every_code_has_a_text() -> None:
    table = rule_table()
    assert table["version"]
    for rule in table["rules"]:
        assert len(rule["source"]) > 40, rule["id"]
        assert rule["triage"] in TRIAGE_TEXTS
        for code in rule["recommendations"]:
            assert code in RECOMMENDATION_TEXTS, code
        for label in rule["when"].get("finding_any", []):
            assert label in FINDING_TEXTS, label
    assert [rule["id"] for rule in table["rules"]] == list(dict.fromkeys(r["id"] for r in table["rules"]))


@pytest.mark.parametrize(
    ("findings", "measurements", "risk", "triage", "first_advice"),
    [
        ({"NORM": 0.9}, NORMAL, None, "routine", "routine_follow_up"),
        ({"AMI": 0.8}, NORMAL, None, "urgent", "call_emergency_services"),
        ({}, {**NORMAL, "qtc_bazett_ms": 512.0}, None, "urgent", "seek_care_today"),
        ({}, {**NORMAL, "heart_rate_bpm": 36.0}, None, "urgent", "call_emergency_services"),
        ({}, {**NORMAL, "heart_rate_bpm": 171.0}, None, "urgent", "call_emergency_services"),
        ({"AFIB": 0.7}, {**NORMAL, "rhythm": "irregular"}, None, "soon", "see_cardiologist_soon"),
        ({}, {**NORMAL, "heart_rate_bpm": 45.0}, None, "soon", "see_doctor_soon"),
        ({}, {**NORMAL, "qtc_bazett_ms": 480.0}, None, "soon", "see_doctor_soon"),
        ({"LVH": 0.6}, NORMAL, None, "routine", "check_blood_pressure"),
        ({"NORM": 0.9}, NORMAL, "very_high", "soon", "see_cardiologist_soon"),
        ({"AFIB": 0.3}, NORMAL, None, "routine", "routine_follow_up"),  # below the finding threshold
    ],
)
def test_triage_follows_the_rules(
    findings: dict[str, float],
    measurements: dict[str, object],
    risk: str | None,
    triage: str,
    first_advice: str,
) -> None:
    advice = advise(findings, measurements, risk)
    assert advice.triage == triage
    assert advice.recommendations[0] == first_advice


def test_the_most_urgent_rule_leads_and_all_advice_is_kept() -> None:
    advice = advise({"AFIB": 0.9, "AMI": 0.7}, {**NORMAL, "rhythm": "irregular"})
    assert advice.triage == "urgent"
    assert advice.recommendations[:2] == ["call_emergency_services", "see_cardiologist_soon"]
    assert "discuss_stroke_prevention" in advice.recommendations


def test_missing_measurements_never_trigger_a_threshold() -> None:
    advice = advise({}, {"heart_rate_bpm": None, "qtc_bazett_ms": None, "rhythm": "unknown"})
    assert advice.triage == "routine"


def test_not_interpretable_asks_for_a_new_recording() -> None:
    advice = not_interpretable_advice()
    assert (advice.triage, advice.recommendations) == ("not_interpretable", ["retake_ecg"])


def test_every_refusal_code_has_a_text() -> None:
    reader_codes = [
        common.UNSUPPORTED_FORMAT,
        common.CORRUPT_FILE,
        common.NO_STANDARD_LEADS,
        common.INCONSISTENT_LEADS,
        common.INVALID_SAMPLING_RATE,
        common.TOO_LONG,
        common.UNSAFE_ARCHIVE,
        common.NO_WAVEFORM,
    ]
    for code in [*reader_codes, *REFUSING, "saturated", "lead_reversal", "unreadable_ecg"]:
        assert code in REASON_TEXTS, code
