"""Create the demo admin account and each registered task type's demo projects (idempotent).

A task type names its demo projects (``TaskType.demo_projects``: one by default, more for a
task type with several designs); each is seeded and then answered by simulated people."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.core import registry
from apps.core.demo import demo_answers_simulate
from apps.core.models import Project
from apps.core.services import project_create

# Enough simulated people that the demo's first items reach their overlap (agreement needs
# items with several answers), few enough that seeding stays a matter of seconds.
DEMO_PARTICIPANTS = 20


def demo_password() -> str:
    path = settings.VAR_DIR / "demo_admin_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create the demo admin and seed each task type's demo projects."

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        password = demo_password()
        admin, _ = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        admin.set_password(password)
        admin.save()
        for task_type in registry.all_task_types():
            for demo in task_type.demo_projects():
                slug = demo.slug(task_type.key)
                if Project.objects.filter(slug=slug).exists():
                    continue
                project = project_create(
                    owner=admin,
                    slug=slug,
                    title=demo.title or f"Demo: {task_type.title}",
                    task_type=task_type.key,
                    config=demo.config,
                    status=Project.Status.LIVE,
                )
                task_type.seed_demo(project)
                answers = demo_answers_simulate(project=project, participants=DEMO_PARTICIPANTS)
                self.stdout.write(
                    f"Seeded {slug}: {project.items.count()} items, {answers} simulated answers"
                )
        self.stdout.write(f"Admin: admin / {password}")
