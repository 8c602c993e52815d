from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "apps.explain"
    label = "explain"
    verbose_name = "Explanation inspection (saliency maps, WSOL normalisations)"

    def ready(self) -> None:
        from apps.core import registry
        from apps.training import trainers

        from .tasktype import EXPLAIN
        from .trainer import EXPLAIN_TRAINER

        registry.register(EXPLAIN)
        trainers.register(EXPLAIN_TRAINER)
