from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"
    verbose_name = "Model loop"

    def ready(self) -> None:
        from apps.core import registry

        from . import trainers
        from .humor_trainer import HUMOR_TRAINER
        from .services import prediction_prefill

        trainers.register(HUMOR_TRAINER)
        registry.register_prefill_provider(prediction_prefill)
