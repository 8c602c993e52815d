from django.apps import AppConfig


class HumorConfig(AppConfig):
    name = "apps.humor"
    label = "humor"
    verbose_name = "Humor reaction labeling (CHoRaL)"

    def ready(self) -> None:
        from apps.core import registry
        from apps.training import trainers

        from .tasktype import HUMOR
        from .trainer import HUMOR_TRAINER

        registry.register(HUMOR)
        trainers.register(HUMOR_TRAINER)
