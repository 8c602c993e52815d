"""Print a ready-made crowdworker link for every live project (used by `make demo`)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from apps.core.models import Project


class Command(BaseCommand):
    help = "Print crowdworker links for the live projects."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base", default="http://127.0.0.1:8000")

    def handle(self, *args, base: str, **options) -> None:
        for project in Project.objects.filter(status=Project.Status.LIVE).order_by("slug"):
            self.stdout.write(
                f"    {base}/p/{project.slug}/?PROLIFIC_PID=demo-worker-1&STUDY_ID=demo&SESSION_ID=s1"
            )
