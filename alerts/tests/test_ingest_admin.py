"""The coordinator console for alert ingest: rules are editable, dead letters are visible and can be replayed."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client
from django.urls import reverse

import alerts.admin_rules  # noqa: F401  (registers the admins even before alerts/admin.py imports them)
from alerts import services
from alerts.models import Alert, AlertRule, DeadLetter
from targets.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def console():
    client = Client()
    client.force_login(UserFactory(username="console-coordinator", is_staff=True))
    return client


def test_coordinator_sees_and_edits_rules(console):
    page = console.get(reverse("admin:alerts_alertrule_changelist"))
    assert page.status_code == 200 and b"GRB afterglows" in page.content
    rule = AlertRule.objects.get(name="GRB afterglows")
    assert console.get(reverse("admin:alerts_alertrule_change", args=[rule.pk])).status_code == 200
    rules = list(AlertRule.objects.in_order())
    form = {"form-TOTAL_FORMS": str(len(rules)), "form-INITIAL_FORMS": str(len(rules)), "_save": "Save"}
    for i, r in enumerate(rules):
        form.update({f"form-{i}-id": str(r.pk), f"form-{i}-order": str(r.order)})
        if r.name != "GRB afterglows":
            form[f"form-{i}-enabled"] = "on"
    response = console.post(reverse("admin:alerts_alertrule_changelist"), form)
    assert response.status_code == 302
    assert not AlertRule.objects.get(name="GRB afterglows").enabled


def test_dead_letters_are_listed_and_replayed(console):
    bad = services.dead_letter_record(feed="gcn_kafka:test", body=b"<VOEvent><oops", error="malformed XML")
    good_body = b'{"source": "TNS", "external_id": "2026rep", "ra_deg": 1.0, "dec_deg": 2.0}'
    good = services.dead_letter_record(
        feed="poller:tns", body=good_body, content_type="application/json", error="database was down"
    )
    page = console.get(reverse("admin:alerts_deadletter_changelist"))
    assert page.status_code == 200 and b"malformed XML" in page.content
    assert console.get(reverse("admin:alerts_deadletter_change", args=[bad.pk])).status_code == 200
    console.post(
        reverse("admin:alerts_deadletter_changelist"),
        {"action": "replay", ACTION_CHECKBOX_NAME: [str(bad.pk), str(good.pk)]},
    )
    assert Alert.objects.filter(external_id="2026rep").exists()
    assert DeadLetter.objects.get(pk=good.pk).resolved
    assert not DeadLetter.objects.get(pk=bad.pk).resolved
    assert DeadLetter.objects.count() == 2  # a failed replay leaves no second copy


def test_observers_cannot_open_the_rules(client):
    client.force_login(UserFactory(username="plain-observer"))
    assert client.get(reverse("admin:alerts_alertrule_changelist")).status_code == 302
