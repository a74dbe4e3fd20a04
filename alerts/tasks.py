"""Celery tasks of the alert feeds: one per poller (off until configured), and ingest of a queued message."""

import base64

from celery import shared_task

from alerts import pollers, services


def _poll(name: str) -> dict:
    return pollers.feed_poll(pollers.POLLERS[name]()).as_dict()


@shared_task(acks_late=True, time_limit=300, soft_time_limit=270, ignore_result=True)
def alerts_poll_tns_task() -> dict:
    return _poll("tns")


@shared_task(acks_late=True, time_limit=300, soft_time_limit=270, ignore_result=True)
def alerts_poll_gaia_task() -> dict:
    return _poll("gaia")


@shared_task(acks_late=True, time_limit=300, soft_time_limit=270, ignore_result=True)
def alerts_poll_fink_task() -> dict:
    return _poll("fink")


@shared_task(acks_late=True, time_limit=300, soft_time_limit=270, ignore_result=True)
def alerts_poll_alerce_task() -> dict:
    return _poll("alerce")


@shared_task(acks_late=True, time_limit=300, soft_time_limit=270, ignore_result=True)
def alerts_poll_lasair_task() -> dict:
    return _poll("lasair")


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100, ignore_result=True)
def alert_message_ingest_task(*, feed: str, body_b64: str, content_type: str) -> int:
    """Ingest a message queued by another process (JSON-serialisable: the body travels as base64).

    Safe to run twice: ingest is idempotent by (source, external_id).
    """
    results = services.message_ingest(feed=feed, body=base64.b64decode(body_b64), content_type=content_type)
    return len(results)
