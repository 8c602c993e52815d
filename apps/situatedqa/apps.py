from django.apps import AppConfig


class SituatedQAConfig(AppConfig):
    name = "apps.situatedqa"
    label = "situatedqa"
    verbose_name = "SituatedQA: questions whose answers depend on time or place"

    def ready(self) -> None:
        from apps.core import registry

        from .tasktype import SITUATEDQA

        registry.register(SITUATEDQA)
