"""Recompute a humor project's scores and labels after its settings changed (R, K, NS version…)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core.models import Project
from apps.humor.services import scores_compute


class Command(BaseCommand):
    help = "Recompute S, HS, NS, reaction labels, split and study sample of a humor project."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--keep-priorities",
            action="store_true",
            help="Do not resample the human study (keep item priorities, e.g. "
            "set by active learning).",
        )

    def handle(self, *args, slug: str, keep_priorities: bool, **options) -> None:
        project = Project.objects.filter(slug=slug, task_type="humor").first()
        if project is None:
            raise CommandError(f"No humor project {slug!r}.")
        with transaction.atomic():
            meta = scores_compute(project=project, resample=not keep_priorities)
        self.stdout.write(
            f"{slug}: {meta['posts']} posts, {meta['s_version']} ({meta['ns_version']}), "
            f"{meta['humorous']} humorous / {meta['non_humorous']} non-humorous, "
            f"{meta['study']['sampled']} sampled"
        )
