from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"
    verbose_name = "Model loop"

    def ready(self) -> None:
        from apps.core import registry

        from .services import prediction_prefill

        registry.register_prefill_provider(prediction_prefill)
