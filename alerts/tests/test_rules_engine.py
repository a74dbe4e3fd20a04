"""The rules decide, and say why: GRBs with small error boxes first, GW never a single target, tests ignored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alerts.formats import parse
from alerts.formats.base import ParsedAlert, SkymapSummary
from alerts.rules_engine import (
    ACTIONS,
    AlertRule,
    CrossmatchHit,
    Decision,
    compute_priority,
    crossmatch_radius_deg,
    decide,
    default_rules,
)

NOW = dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.UTC)
RULES = default_rules()
DATA = Path(__file__).parent / "data"


def alert(**kw) -> ParsedAlert:
    base = {
        "source": "GCN",
        "external_id": "nasa.gsfc.gcn/SWIFT#1",
        "alert_type": "GRB",
        "format": "voevent",
        "ra_deg": 150.0,
        "dec_deg": -2.0,
        "error_radius_deg": 0.05,
        "event_time": NOW - dt.timedelta(minutes=20),
    }
    return ParsedAlert(**{**base, **kw})


def test_fresh_grb_with_small_error_box_gets_high_priority_and_joins_campaign():
    d = decide(alert(), RULES, now=NOW)
    assert d.action == "create_target"
    assert d.rule == "GRB afterglows"
    assert d.priority > 9.0
    assert d.campaign == "GRB afterglows"
    assert d.campaign_window_start == NOW - dt.timedelta(minutes=20)
    assert d.campaign_window_end == d.campaign_window_start + dt.timedelta(hours=48)
    assert d.expires_at == NOW + dt.timedelta(days=3)
    assert "GRB" in d.reason and "priority" in d.reason and "GRB afterglows" in d.reason


def test_grb_beats_old_supernova_candidate():
    grb = decide(alert(), RULES, now=NOW)
    sn = decide(
        alert(
            source="TNS",
            external_id="2026abc",
            alert_type="SN candidate",
            error_radius_deg=None,
            magnitude=17.5,
            event_time=NOW - dt.timedelta(days=12),
        ),
        RULES,
        now=NOW,
        network_limiting_mag=18.0,
    )
    assert sn.action == "create_target"
    assert grb.priority > sn.priority
    fresh_sn = decide(
        alert(source="TNS", alert_type="SN candidate", error_radius_deg=None, event_time=NOW - dt.timedelta(hours=6)),
        RULES,
        now=NOW,
    )
    assert fresh_sn.priority > sn.priority


def test_larger_error_box_lowers_priority_and_too_large_is_recorded():
    small = decide(alert(error_radius_deg=0.05), RULES, now=NOW)
    medium = decide(alert(error_radius_deg=0.5), RULES, now=NOW)
    assert small.priority > medium.priority >= 4.0
    big = decide(alert(error_radius_deg=8.0), RULES, now=NOW)
    assert big.action == "ignore" and big.region_too_large
    assert "region too large" in big.reason and "8.00°" in big.reason


def test_gw_alert_is_never_a_single_target():
    gw = alert(
        source="IGWN",
        external_id="S261123ab",
        alert_type="GW",
        ra_deg=None,
        dec_deg=None,
        error_radius_deg=None,
        skymap=SkymapSummary(area_90_deg2=1234.5),
    )
    d = decide(gw, RULES, now=NOW)
    assert (d.action, d.region_too_large) == ("ignore", True)
    assert "region too large" in d.reason and "1,234" in d.reason


@pytest.mark.parametrize("role", ["test", "utility"])
def test_test_and_utility_packets_are_ignored(role):
    d = decide(alert(role=role), RULES, now=NOW)
    assert d.action == "ignore" and role in d.reason


def test_retraction_deactivates_what_the_series_made():
    d = decide(alert(is_retraction=True), RULES, existing_target_id="t-1", now=NOW)
    assert (d.action, d.target_id) == ("deactivate", "t-1")
    orphan = decide(alert(is_retraction=True), RULES, now=NOW)
    assert orphan.action == "ignore" and "no target" in orphan.reason


def test_series_update_updates_its_own_target():
    d = decide(
        alert(error_radius_deg=0.001), RULES, existing_target_id="t-1", now=NOW, crossmatch=CrossmatchHit("t-2", 0.0001)
    )
    assert (d.action, d.target_id) == ("update_target", "t-1")


def test_crossmatch_within_rule_radius_merges_and_keeps_higher_priority():
    hit = CrossmatchHit(target_id="t-9", separation_deg=1 / 3600, priority=20.0, name="SN 2026abc")
    d = decide(alert(), RULES, crossmatch=hit, now=NOW)
    assert (d.action, d.target_id, d.priority) == ("merge_into_existing", "t-9", 20.0)
    assert "SN 2026abc" in d.reason and "alias" in d.reason
    far = CrossmatchHit(target_id="t-9", separation_deg=0.01)
    assert decide(alert(), RULES, crossmatch=far, now=NOW).action == "create_target"


def test_too_faint_for_the_network_is_ignored():
    sn = alert(source="ZTF", alert_type="optical transient", error_radius_deg=None, magnitude=20.3)
    d = decide(sn, RULES, network_limiting_mag=18.5, now=NOW)
    assert d.action == "ignore" and "20.3" in d.reason and "network" in d.reason
    assert decide(sn, RULES, network_limiting_mag=21.0, now=NOW).action == "create_target"


def test_old_events_beyond_rule_age_are_ignored():
    d = decide(alert(event_time=NOW - dt.timedelta(days=10)), RULES, now=NOW)
    assert d.action == "ignore" and "10.0 days old" in d.reason


def test_unmatched_types_and_positionless_alerts_are_ignored_with_reason():
    assert "no enabled rule" in decide(alert(alert_type="known source"), RULES, now=NOW).reason
    d = decide(alert(ra_deg=None, dec_deg=None, error_radius_deg=None), RULES, now=NOW)
    assert d.action == "ignore" and "no position" in d.reason


def test_rule_order_source_pattern_and_disabled_rules():
    rules = [
        AlertRule(name="off", alert_types=("GRB",), enabled=False, priority_max=99),
        AlertRule(name="only ztf", source_pattern="ztf", priority_max=50),
        AlertRule(name="gcn grb", source_pattern="G*", alert_types=("grb",), priority_max=7, priority_min=7),
    ]
    d = decide(alert(), rules, now=NOW)
    assert (d.rule, d.priority) == ("gcn grb", 7.0)
    assert crossmatch_radius_deg(alert(), rules) == rules[2].crossmatch_radius_deg
    assert crossmatch_radius_deg(alert(alert_type="neutrino", source="X"), rules) is None


def test_priority_stays_within_rule_bounds():
    rule = RULES[0]
    for err in (None, 0.001, 0.1, 0.3, 1.0):
        for age in (None, 0.0, 0.5, 2.9):
            p = compute_priority(rule, alert(error_radius_deg=err), age)
            assert rule.priority_min <= p <= rule.priority_max


def test_real_swift_packet_makes_a_grb_target_and_its_known_source_twin_does_not():
    grb = parse(
        (DATA / "voevent" / "voeventparse_SWIFT_bat_position_v2.0_example.xml").read_bytes(), "application/xml"
    )[0]
    d = decide(grb, RULES, now=grb.event_time + dt.timedelta(minutes=5))
    assert d.action == "create_target" and d.priority > 9
    known = parse(
        (DATA / "voevent" / "fink_ivo__nasa.gsfc.gcn_SWIFTBAT_Known_Pos_1921042890526.xml").read_bytes(),
        "application/xml",
    )[0]
    assert decide(known, RULES, now=NOW).action == "ignore"


def test_every_decision_is_a_known_action_with_a_reason():
    samples = [
        alert(),
        alert(role="test"),
        alert(is_retraction=True),
        alert(alert_type="GW"),
        alert(error_radius_deg=50.0),
        alert(alert_type="SN candidate", magnitude=25.0),
    ]
    for a in samples:
        d = decide(a, RULES, network_limiting_mag=19.0, now=NOW)
        assert isinstance(d, Decision) and d.action in ACTIONS and d.reason.endswith(".")


def test_naive_now_is_rejected():
    with pytest.raises(ValueError, match="aware"):
        decide(alert(), RULES, now=dt.datetime(2026, 11, 23, 20, 0))  # noqa: DTZ001


def test_priority_stated_by_the_feed_is_kept():
    d = decide(alert(priority=2.5), RULES, now=NOW)
    assert d.action == "create_target" and d.priority == 2.5


def test_rule_from_a_model_row():
    rule = AlertRule.from_mapping(
        {"name": "GRBs", "alert_types": "GRB, X-ray transient", "priority_max": 8, "id": 3, "order": 1}
    )
    assert rule.alert_types == ("GRB", "X-ray transient") and rule.priority_max == 8
    assert AlertRule.from_mapping({"name": "n", "alert_types": ["SN"]}).alert_types == ("SN",)
