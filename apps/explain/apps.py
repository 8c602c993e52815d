from django.apps import AppConfig


class ExplainConfig(AppConfig):
    name = "apps.explain"
    label = "explain"
    verbose_name = "Explanation inspection (saliency maps, WSOL normalisations)"

    def ready(self) -> None:
        from apps.core import registry

        from .tasktype import EXPLAIN

        registry.register(EXPLAIN)
