from django.apps import AppConfig


class HumorConfig(AppConfig):
    name = "apps.humor"
    label = "humor"
    verbose_name = "Humor reaction labeling (CHoRaL)"

    def ready(self) -> None:
        from apps.core import registry

        from .tasktype import HUMOR

        registry.register(HUMOR)
