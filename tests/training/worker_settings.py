"""Settings for the Celery worker the tests start: the project's, with fast redelivery.

A message whose worker was SIGKILLed goes back to the queue after ``visibility_timeout``;
production waits hours, the kill test cannot.
"""

from datetime import timedelta

from config.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 4,
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}

# A killed worker's lease runs out within seconds, so the retry test need not wait minutes.
CHORUS_JOB_LEASE = timedelta(seconds=3)
