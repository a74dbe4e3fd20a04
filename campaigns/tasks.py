from celery import shared_task

from campaigns import planning


@shared_task(acks_late=True, time_limit=120, soft_time_limit=100, ignore_result=True)
def network_plan_build_task() -> None:
    planning.network_plan_build()


@shared_task(acks_late=True, time_limit=120, ignore_result=True)
def site_reliability_update_task() -> None:
    planning.site_reliability_update()
