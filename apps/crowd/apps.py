from django.apps import AppConfig


class CrowdConfig(AppConfig):
    name = "apps.crowd"
    label = "crowd"
    verbose_name = "Crowdworker flow"
