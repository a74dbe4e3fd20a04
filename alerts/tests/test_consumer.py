"""The GCN Kafka consumer: its message handler (poison → dead letter, loop goes on) and the command around it,
with a stand-in for the `gcn-kafka` package (no network, no broker)."""

import sys
import types
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from alerts.management.commands import gcn_kafka
from alerts.models import Alert, DeadLetter

pytestmark = pytest.mark.django_db
DATA = Path(__file__).parent / "data"


class FakeMessage:
    def __init__(self, topic, value, error=None):
        self._topic, self._value, self._error = topic, value, error

    def topic(self):
        return self._topic

    def value(self):
        return self._value

    def error(self):
        return self._error


class FakeConsumer:
    """Mimics gcn_kafka.Consumer: records its configuration, hands out queued messages, records commits."""

    queue: list[FakeMessage] = []
    last: "FakeConsumer | None" = None

    def __init__(self, config=None, client_id=None, client_secret=None, domain="gcn.nasa.gov", **kwargs):
        self.config, self.client_id, self.client_secret, self.domain = config, client_id, client_secret, domain
        self.topics, self.committed, self.closed = [], [], False
        FakeConsumer.last = self

    def subscribe(self, topics):
        self.topics = list(topics)

    def consume(self, num_messages=1, timeout=-1):
        batch, FakeConsumer.queue = FakeConsumer.queue[:2], FakeConsumer.queue[2:]
        return batch

    def commit(self, message=None, asynchronous=True):
        self.committed.append(message)

    def close(self):
        self.closed = True


@pytest.fixture(autouse=True)
def _credentials_from_environment_only(settings):
    for name in ("GCN_KAFKA_CLIENT_ID", "GCN_KAFKA_CLIENT_SECRET", "GCN_KAFKA_TOPICS"):
        setattr(settings, name, "")


@pytest.fixture
def fake_gcn_kafka(monkeypatch):
    module = types.ModuleType("gcn_kafka")
    module.Consumer = FakeConsumer
    monkeypatch.setitem(sys.modules, "gcn_kafka", module)
    monkeypatch.setenv("GCN_KAFKA_CLIENT_ID", "client")
    monkeypatch.setenv("GCN_KAFKA_CLIENT_SECRET", "secret")
    FakeConsumer.queue = []
    return FakeConsumer


def test_topic_names_their_format():
    assert gcn_kafka.content_type_for_topic("gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK") == "application/xml"
    assert gcn_kafka.content_type_for_topic("gcn.classic.binary.SWIFT_BAT_GRB_POS_ACK") == "application/octet-stream"
    assert gcn_kafka.content_type_for_topic("gcn.notices.swift.bat.guano") == "application/json"
    assert gcn_kafka.content_type_for_topic("igwn.gwalert") == "application/json"


def test_handler_ingests_voevent_binary_and_json_messages():
    xml = (DATA / "voevent" / "voeventparse_SWIFT_xrt_position_v1.1_example.xml").read_bytes()
    binary = (DATA / "gcn_classic" / "SWIFT_BAT_GRB_POS_ACK.example.bin").read_bytes()
    notice = (DATA / "gcn_kafka" / "einstein_probe_wxt_alert.example.json").read_bytes()
    assert gcn_kafka.message_handle(topic="gcn.classic.voevent.SWIFT_XRT_POSITION", value=xml) == 1
    assert gcn_kafka.message_handle(topic="gcn.classic.binary.SWIFT_BAT_GRB_POS_ACK", value=binary) == 1
    assert gcn_kafka.message_handle(topic="gcn.notices.einstein_probe.wxt.alert", value=notice) == 1
    assert Alert.objects.count() == 3
    assert Alert.objects.get(source="GCN", external_id="nasa.gsfc.gcn/SWIFT#644259").ra_deg == 314.7162
    assert DeadLetter.objects.count() == 0


@pytest.mark.parametrize(
    ("topic", "value", "needle"),
    [
        ("gcn.classic.voevent.FERMI_GBM_FLT_POS", b"<VOEvent><broken", "XML"),
        ("gcn.classic.binary.SWIFT_BAT_GRB_POS_ACK", b"\x01\x02", "binary"),
        ("gcn.notices.swift.bat.guano", b'{"mission": "Swift", "id": [', "JSON"),
        ("igwn.gwalert", b'{"superevent_id": 7}', ""),
        ("gcn.classic.text.SWIFT_BAT_GRB_POS_ACK", b"TITLE: GCN/SWIFT NOTICE", "not supported"),
        ("gcn.notices.swift.bat.guano", b"", "empty"),
    ],
)
def test_poison_message_goes_to_the_dead_letter_table(topic, value, needle):
    assert gcn_kafka.message_handle(topic=topic, value=value) == 0
    letter = DeadLetter.objects.get()
    assert letter.feed == f"gcn_kafka:{topic}"
    assert needle.lower() in letter.error.lower()
    assert Alert.objects.count() == 0


def test_consumer_loop_goes_on_after_a_poison_message(fake_gcn_kafka, capsys):
    good = (DATA / "gcn_kafka" / "icecube_single_neutrino_alerts.gold_bronze_track_alerts.example.json").read_bytes()
    fake_gcn_kafka.queue = [
        FakeMessage("gcn.notices.icecube.lvk_nu_track_search", b"{not json"),
        FakeMessage("gcn.notices.icecube.lvk_nu_track_search", None, error="_PARTITION_EOF"),
        FakeMessage("gcn.notices.icecube.lvk_nu_track_search", good),
        FakeMessage("gcn.notices.icecube.lvk_nu_track_search", good),
    ]
    call_command("gcn_kafka", "--topic", "gcn.notices.icecube.lvk_nu_track_search", "--max-messages", "3")
    consumer = fake_gcn_kafka.last
    assert consumer.topics == ["gcn.notices.icecube.lvk_nu_track_search"]
    assert (consumer.client_id, consumer.client_secret) == ("client", "secret")
    assert consumer.config["enable.auto.commit"] is False
    assert len(consumer.committed) == 3 and consumer.closed
    assert DeadLetter.objects.count() == 1
    alert = Alert.objects.get()
    assert alert.update_count == 1 and alert.ra_deg == 345.82
    assert "Stopped after 3 messages" in capsys.readouterr().out


def test_command_without_the_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setenv("GCN_KAFKA_CLIENT_ID", "client")
    monkeypatch.setenv("GCN_KAFKA_CLIENT_SECRET", "secret")
    monkeypatch.setitem(sys.modules, "gcn_kafka", None)  # import fails
    with pytest.raises(CommandError, match="gcn-kafka"):
        call_command("gcn_kafka", "--max-messages", "1")


def test_command_without_credentials_says_which_are_missing(fake_gcn_kafka, monkeypatch):
    monkeypatch.delenv("GCN_KAFKA_CLIENT_SECRET")
    with pytest.raises(CommandError, match="GCN_KAFKA_CLIENT_SECRET"):
        call_command("gcn_kafka", "--max-messages", "1")


def test_queued_message_task_ingests_and_dead_letters():
    import base64

    from alerts.tasks import alert_message_ingest_task

    body = (DATA / "gcn_kafka" / "einstein_probe_wxt_alert.example.json").read_bytes()
    stored = alert_message_ingest_task.delay(
        feed="queue", body_b64=base64.b64encode(body).decode(), content_type="application/json"
    ).get()
    assert stored == 1 and Alert.objects.count() == 1
    bad = alert_message_ingest_task.delay(
        feed="queue", body_b64=base64.b64encode(b"\x00").decode(), content_type="avro/binary"
    ).get()
    assert bad == 0 and DeadLetter.objects.get().feed == "queue"
