from django.apps import AppConfig


class MosConfig(AppConfig):
    name = "apps.mos"
    label = "mos"
    verbose_name = "MOS listening tests (VITS, ITU-T P.808)"

    def ready(self) -> None:
        from apps.core import registry
        from apps.training import trainers

        from .tasktype import MOS
        from .trainer import MOS_TRAINER

        registry.register(MOS)
        trainers.register(MOS_TRAINER)
