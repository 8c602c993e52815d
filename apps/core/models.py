"""The domain every task type shares: projects, items, participants, assignments, answers, jobs."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


class Project(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # being set up; participants are turned away
        LIVE = "live", "Live"  # participants can enter and annotate
        PAUSED = "paused", "Paused"  # temporarily closed; work already reserved may be submitted
        CLOSED = "closed", "Closed"  # finished for good

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    task_type = models.CharField(max_length=40, help_text="A key of the task-type registry.")
    instructions = models.TextField(blank=True, help_text="Markdown, sanitised when shown.")
    consent_text = models.TextField(
        blank=True,
        default="I agree to take part in this study. My answers are stored anonymously "
        "and used for research. I can stop at any time.",
    )
    config = models.JSONField(default=dict, blank=True)
    overlap = models.PositiveSmallIntegerField(default=3, help_text="Answers wanted per item.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    completion_code = models.CharField(max_length=40, default=_completion_code)
    items_per_participant = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most items one participant may do; empty = no cap."
    )
    reservation_ttl = models.DurationField(default=timedelta(minutes=10))
    gold_rate = models.FloatField(
        default=0.0, help_text="Share of served items that are gold or attention checks (0–1)."
    )
    gold_block_below = models.FloatField(
        null=True, blank=True, help_text="Block a participant whose gold accuracy falls below this."
    )
    gold_block_after = models.PositiveIntegerField(
        default=5, help_text="…once they have answered at least this many gold items."
    )
    # The two rules crowd platforms use beside gold (apps.core.answer_rules).
    fast_block_below_s = models.FloatField(
        null=True,
        blank=True,
        help_text="Block a participant whose median seconds per item is below this.",
    )
    fast_block_after = models.PositiveIntegerField(
        default=10, help_text="…once they have answered at least this many items."
    )
    constant_block_after = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Block a participant whose last this many answers are all the same.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_0_1"
            ),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE

    def set_status(self, status: str) -> None:
        self.status = status
        self.save(update_fields=["status"])


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"  # everything, including members and deletion
        RESEARCHER = "researcher", "Researcher"  # edit data, launch, block, train, export
        VIEWER = "viewer", "Viewer"  # read-only: progress, results, exports

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=12, choices=Role.choices, default=Role.RESEARCHER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project_id}"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.RESEARCHER)


class Item(models.Model):
    class Kind(models.TextChoices):
        REGULAR = "regular", "Regular"  # real work, answered `overlap` times
        GOLD = "gold", "Gold"  # known answer; scores participants; shown to everyone once
        ATTENTION = "attention", "Attention check"  # an instruction in the item; scored like gold

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    external_id = models.CharField(max_length=200)
    payload = models.JSONField(default=dict)
    media = models.FileField(upload_to="items/%Y/%m/", blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REGULAR)
    gold_value = models.JSONField(null=True, blank=True)
    priority = models.FloatField(default=0.0, help_text="Higher is served first.")
    stage = models.CharField(max_length=40, blank=True, default="")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # Submitted answers; kept by the engine under the item's row lock so overlap holds.
    answer_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_external_id"),
        ]
        indexes = [
            models.Index(
                fields=["project", "kind", "-priority", "answer_count", "id"], name="item_pick_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.external_id}"

    @property
    def is_control(self) -> bool:
        return self.kind != self.Kind.REGULAR


class Participant(models.Model):
    class Source(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon MTurk"
        LINK = "link", "Plain link"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"  # may work
        BLOCKED = "blocked", "Blocked"  # turned away; answers kept but excluded from results
        FINISHED = "finished", "Finished"  # reached the done page

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="participants")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=200)
    study_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    instructions_seen_at = models.DateTimeField(null=True, blank=True)
    qualification = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    blocked_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "source", "external_id"], name="participant_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"

    def consent(self) -> None:
        self.consented_at = timezone.now()
        self.save(update_fields=["consented_at"])

    def mark_instructions_seen(self) -> None:
        self.instructions_seen_at = timezone.now()
        self.save(update_fields=["instructions_seen_at"])

    def block(self, reason: str = "") -> None:
        self.status = self.Status.BLOCKED
        self.blocked_reason = reason[:200]
        self.save(update_fields=["status", "blocked_reason"])

    def unblock(self) -> None:
        self.status = self.Status.ACTIVE
        self.blocked_reason = ""
        self.save(update_fields=["status", "blocked_reason"])

    def finish(self) -> None:
        if self.status == self.Status.ACTIVE:
            self.status = self.Status.FINISHED
            self.finished_at = timezone.now()
            self.save(update_fields=["status", "finished_at"])


class Assignment(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"  # held for this participant until expires_at
        SUBMITTED = "submitted", "Submitted"  # answered; an Annotation exists
        EXPIRED = "expired", "Expired"  # reservation ran out; may be re-reserved or submitted late
        SKIPPED = "skipped", "Skipped"  # the participant declined it; never served to them again

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RESERVED)
    reserved_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # Where the participant's answer is pre-filled from a model (None = not pre-filled).
    prefill = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "participant"], name="assignment_unique"),
        ]
        indexes = [
            models.Index(fields=["item", "status", "expires_at"], name="assignment_live_idx"),
            models.Index(fields=["participant", "status"], name="assignment_participant_idx"),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} ({self.status})"

    def is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.RESERVED and self.expires_at > now


class Annotation(models.Model):
    assignment = models.OneToOneField(
        Assignment, on_delete=models.CASCADE, related_name="annotation"
    )
    # Denormalised from the assignment so exports and statistics read one table.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="annotations"
    )
    value = models.JSONField()
    duration_ms = models.PositiveIntegerField(default=0)
    client_token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["project", "id"], name="annotation_export_idx"),
            models.Index(fields=["project", "created_at"], name="annotation_since_idx"),
        ]

    def __str__(self) -> str:
        return f"answer {self.pk} to item {self.item_id}"


class Job(models.Model):
    """A background job's state and progress, polled by the dashboard's progress bars."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"  # enqueued, no worker has started it
        RUNNING = "running", "Running"  # a worker is on it
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"  # message says why
        CANCELLED = "cancelled", "Cancelled"  # stopped at a researcher's request

    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    message = models.TextField(blank=True)
    log_tail = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life from the worker (start or progress); a running job whose heartbeat is
    # older than settings.CHORUS_JOB_STALE_AFTER is failed by the housekeeping task.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # The Celery task that runs this job (its name and the arguments after the job id), so the
    # housekeeping task can send it again when the broker lost it or its worker died.
    task_name = models.CharField(max_length=200, blank=True)
    task_args = models.JSONField(default=list, blank=True)
    # When the message last reached the broker; null while it has not (the broker was down).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # One execution at a time: the running worker holds the lease and renews it; a second
    # delivery of the same task finds it held and does nothing (see apps.core.jobs.job_task).
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_done(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)
