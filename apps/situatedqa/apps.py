from django.apps import AppConfig


class SituatedQAConfig(AppConfig):
    name = "apps.situatedqa"
    label = "situatedqa"
    verbose_name = "SituatedQA: questions whose answers depend on time or place"

    def ready(self) -> None:
        from apps.core import registry
        from apps.training import trainers

        from .tasktype import SITUATEDQA
        from .trainer import SITUATEDQA_TRAINER

        registry.register(SITUATEDQA)
        trainers.register(SITUATEDQA_TRAINER)
