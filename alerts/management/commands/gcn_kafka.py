"""`manage.py gcn_kafka`: a long-running consumer of NASA GCN's Kafka notices (VOEvent, binary, JSON, IGWN).

Needs the `gcn-kafka` package and client credentials from https://gcn.nasa.gov/quickstart, given in the
environment as GCN_KAFKA_CLIENT_ID / GCN_KAFKA_CLIENT_SECRET. Topics come from --topic, else GCN_KAFKA_TOPICS
(comma-separated), else DEFAULT_TOPICS. A message that cannot be read is recorded in the dead-letter table and
the loop goes on; offsets are committed after each message is handled (at-least-once: ingest is idempotent).
"""

from __future__ import annotations

import contextlib
import logging
import signal

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from alerts import services
from alerts.pollers import setting

logger = logging.getLogger(__name__)

DEFAULT_TOPICS = [
    "gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK",
    "gcn.classic.voevent.SWIFT_XRT_POSITION",
    "gcn.classic.voevent.SWIFT_UVOT_POS",
    "gcn.classic.voevent.FERMI_GBM_FLT_POS",
    "gcn.classic.voevent.FERMI_GBM_GND_POS",
    "gcn.classic.voevent.FERMI_GBM_FIN_POS",
    "gcn.classic.voevent.ICECUBE_ASTROTRACK_GOLD",
    "gcn.classic.voevent.ICECUBE_ASTROTRACK_BRONZE",
    "gcn.notices.einstein_probe.wxt.alert",
    "gcn.notices.swift.bat.guano",
    "gcn.notices.icecube.lvk_nu_track_search",
    "igwn.gwalert",
]
INSTALL_HINT = "pip install gcn-kafka==0.3.4"


def content_type_for_topic(topic: str) -> str:
    """GCN topics name their format: classic VOEvent is XML, classic binary is the 160-byte packet, the rest
    (unified `gcn.notices.*` schema, `igwn.gwalert`) is JSON."""
    if ".voevent." in topic:
        return "application/xml"
    if ".binary." in topic:
        return "application/octet-stream"
    if ".text." in topic:
        return "text/x-gcn-classic"  # plain-text classic notices are not parsed: they go to the dead-letter table
    return "application/json"


def message_handle(*, topic: str, value: bytes | None) -> int:
    """Ingest one Kafka message; returns the number of alerts stored. Never raises for a bad message."""
    feed = f"gcn_kafka:{topic}"
    content_type = content_type_for_topic(topic)
    if not value:
        services.dead_letter_record(feed=feed, body=b"", content_type=content_type, error="empty message")
        return 0
    try:
        return len(services.message_ingest(feed=feed, body=bytes(value), content_type=content_type))
    except Exception as exc:  # e.g. the database went away: record if we can, and go on
        logger.exception("handling a message from %s failed", topic)
        try:
            services.dead_letter_record(
                feed=feed, body=bytes(value), content_type=content_type, error=f"{type(exc).__name__}: {exc}"
            )
        except Exception:
            logger.exception("could not record the dead letter either")
        return 0


def _consumer_class():
    try:
        from gcn_kafka import Consumer
    except ImportError:
        raise CommandError(
            f"The gcn-kafka package is not installed, so GCN notices cannot be consumed. Install it ({INSTALL_HINT})."
        ) from None
    return Consumer


class Command(BaseCommand):
    help = "Consume GCN Kafka notices and ingest them as alerts (runs until stopped)."

    def add_arguments(self, parser):
        parser.add_argument("--topic", action="append", dest="topics", help="Topic to subscribe to (repeatable).")
        parser.add_argument("--group-id", default=None, help="Kafka consumer group (default GCN_KAFKA_GROUP_ID).")
        parser.add_argument("--domain", default=None, help="GCN domain (default gcn.nasa.gov).")
        parser.add_argument("--max-messages", type=int, default=0, help="Stop after this many messages (0: never).")
        parser.add_argument("--poll-timeout", type=float, default=1.0, help="Seconds to wait for messages per poll.")

    def handle(self, *args, **options):
        client_id = setting("GCN_KAFKA_CLIENT_ID")
        client_secret = setting("GCN_KAFKA_CLIENT_SECRET")
        if not client_id or not client_secret:
            raise CommandError(
                "GCN Kafka credentials are missing: set GCN_KAFKA_CLIENT_ID and GCN_KAFKA_CLIENT_SECRET "
                "(from https://gcn.nasa.gov/quickstart)."
            )
        consumer_class = _consumer_class()
        topics = options["topics"] or [t.strip() for t in str(setting("GCN_KAFKA_TOPICS", "")).split(",") if t.strip()]
        topics = topics or DEFAULT_TOPICS
        config = {
            "group.id": options["group_id"] or setting("GCN_KAFKA_GROUP_ID", "telescope-network-alerts"),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
        consumer = consumer_class(
            config=config,
            client_id=client_id,
            client_secret=client_secret,
            domain=options["domain"] or setting("GCN_KAFKA_DOMAIN", "gcn.nasa.gov"),
        )
        consumer.subscribe(topics)
        self.stdout.write(f"Consuming {len(topics)} GCN topics: {', '.join(topics)}")
        stop = {"now": False}

        def _stop(signum, frame):
            stop["now"] = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread (tests)
                signal.signal(sig, _stop)
        handled = 0
        max_messages = options["max_messages"]
        try:
            while not stop["now"]:
                for message in consumer.consume(timeout=options["poll_timeout"]):
                    error = message.error()
                    if error:
                        # Transport-level notices (partition EOF, unknown topic): not alert messages.
                        logger.warning("GCN Kafka: %s", error)
                        continue
                    if not connection.in_atomic_block:  # (tests run the loop inside a transaction)
                        close_old_connections()  # a long-running process must not keep a dead connection
                    stored = message_handle(topic=message.topic(), value=message.value())
                    try:
                        consumer.commit(message)
                    except Exception:
                        logger.exception("GCN Kafka commit failed; the message may be handled again")
                    handled += 1
                    logger.info("GCN %s: %d alert(s)", message.topic(), stored)
                    if max_messages and handled >= max_messages:
                        stop["now"] = True
                        break
        finally:
            consumer.close()
        self.stdout.write(f"Stopped after {handled} messages.")
