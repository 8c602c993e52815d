from django.apps import AppConfig


class CophyConfig(AppConfig):
    name = "apps.cophy"
    label = "cophy"
    verbose_name = "Counterfactual physics (CoPhy, ICLR 2020)"

    def ready(self) -> None:
        from apps.core import registry

        from .tasktype import COPHY

        registry.register(COPHY)
