from django.apps import AppConfig


class CophyConfig(AppConfig):
    name = "apps.cophy"
    label = "cophy"
    verbose_name = "Counterfactual physics (CoPhy, ICLR 2020)"

    def ready(self) -> None:
        from apps.core import registry
        from apps.training import trainers

        from .tasktype import COPHY
        from .trainer import COPHY_TRAINER

        registry.register(COPHY)
        trainers.register(COPHY_TRAINER)
