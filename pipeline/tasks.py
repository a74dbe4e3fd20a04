from celery import shared_task

from pipeline import services


@shared_task(
    acks_late=True,
    time_limit=600,
    soft_time_limit=540,
    ignore_result=True,
    autoretry_for=(services.TransientPipelineError,),
    retry_backoff=30,
    max_retries=services.MAX_ATTEMPTS - 1,
)
def observation_reduce_task(observation_id: str) -> None:
    services.observation_reduce(observation_id=observation_id)


@shared_task(acks_late=True, time_limit=120, ignore_result=True)
def pipeline_sweep_task() -> None:
    """Requeue frames left pending (broker was down) and release claims of workers that died."""
    services.pipeline_sweep()
