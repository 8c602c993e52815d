"""The domain every task type shares: projects, items, participants, assignments, answers, jobs."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone

from .media import item_media_path, item_media_storage

# Item.list_mask is a signed 64-bit integer with one bit per list.
MAX_LISTS = 63


def _completion_code() -> str:
    return secrets.token_hex(4).upper()


def pseudonym_salt_new() -> str:
    return secrets.token_hex(32)


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
    # What the task type computed from the data and the config (e.g. humor's score choices).
    # Written only by the task type's services, with update_fields=["derived"], so a
    # recompute on the worker and a settings save never overwrite each other.
    derived = models.JSONField(default=dict, blank=True, editable=False)
    overlap = models.PositiveSmallIntegerField(default=3, help_text="Answers wanted per item.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    completion_code = models.CharField(max_length=40, default=_completion_code)
    # Shown (and sent back to Prolific) instead of the completion code when a participant fails
    # the task type's qualification; empty = no code, the participant returns the study.
    screen_out_code = models.CharField(max_length=40, blank=True)
    items_per_participant = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most items one participant may do; empty = no cap."
    )
    reservation_ttl = models.DurationField(default=timedelta(minutes=10))
    # Balanced designs (a Latin square): each new participant is given the least-used of
    # ``list_count`` lists and is served only items of that list (``Item.list_mask``).
    list_count = models.PositiveSmallIntegerField(
        default=0, help_text="Lists of a balanced design (a Latin square); 0 = no lists."
    )
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
    # The key of the participant pseudonyms in dataset exports (apps.core.hfdataset): one per
    # project, so the same person cannot be linked across projects; never exported or shown.
    pseudonym_salt = models.CharField(max_length=64, default=pseudonym_salt_new, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_0_1"
            ),
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(
                condition=Q(list_count__lte=MAX_LISTS), name="project_list_count_max"
            ),
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
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REGULAR)
    gold_value = models.JSONField(null=True, blank=True)
    # Two owners, two columns: the task type's (or the import's) base priority, e.g. humor's
    # stratified study sample, and the active model's priority (active learning), rewritten
    # whenever the model or its mode changes. The engine orders by base first, then model, so
    # training a model can reorder items within a tier but never undo the study design.
    priority = models.FloatField(default=0.0, help_text="Higher is served first.")
    model_priority = models.FloatField(
        default=0.0, help_text="Set by the active model; orders items of equal priority."
    )
    stage = models.CharField(max_length=40, blank=True, default="")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    # A child's name among its parent's children (``ChildSpec.key``): unique per parent, so an
    # advance delivered twice finds its children made and makes none again.
    child_key = models.CharField(max_length=100, blank=True, default="")
    # Per-participant rules, read by the engine's one candidate statement (no Python on the
    # hot path): a participant gets at most one item of a ``group`` (one utterance across
    # systems, one scene across conditions); ``wanted_answers`` overrides the project's
    # overlap for this item; ``list_mask`` names the lists of a balanced design the item is
    # in (bit n = list n; 0 = every list). Exclusions are rows of ItemExclusion.
    group = models.CharField(max_length=200, blank=True, default="")
    wanted_answers = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Answers wanted for this item; empty = the overlap."
    )
    list_mask = models.BigIntegerField(default=0)
    # Submitted answers of participants who are not blocked; kept by the engine under the
    # item's row lock so overlap holds, and moved by Participant.block/unblock.
    answer_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["project", "kind", "-priority", "-model_priority", "answer_count", "id"],
                name="item_pick_idx",
            ),
            models.Index(fields=["project", "group"], name="item_group_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="item_external_id"),
            models.CheckConstraint(
                condition=Q(wanted_answers__isnull=True) | Q(wanted_answers__gte=1),
                name="item_wanted_answers_positive",
            ),
            models.CheckConstraint(condition=Q(list_mask__gte=0), name="item_list_mask_positive"),
            models.UniqueConstraint(
                fields=["parent", "child_key"],
                condition=Q(parent__isnull=False),
                name="item_child_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.external_id}"

    @staticmethod
    def mask_of(lists) -> int:
        """The ``list_mask`` of an item in ``lists`` (list numbers from 0)."""
        mask = 0
        for index in lists:
            if not 0 <= int(index) < MAX_LISTS:
                raise ValueError(f"List {index!r} is not a number from 0 to {MAX_LISTS - 1}.")
            mask |= 1 << int(index)
        return mask

    @property
    def lists(self) -> list[int]:
        """The lists this item is in; empty = every list."""
        return [n for n in range(MAX_LISTS) if self.list_mask >> n & 1]

    @property
    def wanted(self) -> int:
        """Answers this item wants: its own number, else the project's overlap."""
        return self.wanted_answers if self.wanted_answers is not None else self.project.overlap

    @property
    def is_control(self) -> bool:
        return self.kind != self.Kind.REGULAR


class ItemMedia(models.Model):
    """One named media file of an item (``main``; or ``reference`` and ``test``; an image and
    its heatmaps), stored under an opaque name and served only through access-checked views."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="media_files")
    key = models.CharField(max_length=40)
    file = models.FileField(max_length=200, upload_to=item_media_path, storage=item_media_storage)
    # Decided from the file's content at upload (apps.core.media.media_type), never its name.
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField(default=0)
    # Seconds of audio or video, when the task type measured it; a task type that asks for a
    # clip to be heard to the end (``must_play``) needs it (``apps.core.plays``).
    duration_s = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "key"], name="item_media_key"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}:{self.key}"

    @property
    def is_audio(self) -> bool:
        return self.content_type.startswith("audio/")

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")


class ItemExclusion(models.Model):
    """``participant`` may not answer ``item`` (e.g. a validation excludes the author)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="exclusions")
    participant = models.ForeignKey(
        "Participant", on_delete=models.CASCADE, related_name="exclusions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "participant"], name="item_exclusion_unique"),
        ]

    def __str__(self) -> str:
        return f"item {self.item_id} excludes participant {self.participant_id}"


class Participant(models.Model):
    class Source(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        MTURK = "mturk", "Amazon MTurk"
        LINK = "link", "Plain link"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"  # may work
        BLOCKED = "blocked", "Blocked"  # turned away; answers kept but excluded from results
        FINISHED = "finished", "Finished"  # reached the done page
        SCREENED = "screened", "Screened out"  # failed the qualification; served nothing more

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="participants")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(max_length=200)
    study_id = models.CharField(max_length=200, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    consented_at = models.DateTimeField(null=True, blank=True)
    instructions_seen_at = models.DateTimeField(null=True, blank=True)
    # The latest qualification check (apps.core.qualification): its result, when, and the
    # details the task type's check returned.
    qualification_passed = models.BooleanField(null=True, blank=True)
    qualified_at = models.DateTimeField(null=True, blank=True)
    qualification = models.JSONField(null=True, blank=True)
    # The list of the project's balanced design this participant is served (None = all).
    list_index = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # A demo's simulated participant (``apps.core.demo``): shown and exported as simulated.
    simulated = models.BooleanField(default=False)
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
        return self.display_name

    @property
    def display_name(self) -> str:
        """The one name pages and results give a participant: "Prolific · 5f3a…"."""
        return self.name_of(self.source, self.external_id)

    @classmethod
    def name_of(cls, source: str, external_id: str) -> str:
        """``display_name`` from the two columns, for code that reads values, not rows."""
        label = dict(cls.Source.choices).get(source, source)
        return f"{label} · {external_id}"

    def consent(self) -> None:
        self.consented_at = timezone.now()
        self.save(update_fields=["consented_at"])

    def mark_instructions_seen(self) -> None:
        self.instructions_seen_at = timezone.now()
        self.save(update_fields=["instructions_seen_at"])

    def record_qualification(self, *, passed: bool, details: dict) -> None:
        """Store a qualification result; a failure screens the participant out."""
        self.qualification_passed = passed
        self.qualified_at = timezone.now()
        self.qualification = details
        fields = ["qualification_passed", "qualified_at", "qualification"]
        if not passed and self.status == self.Status.ACTIVE:
            self.status = self.Status.SCREENED
            fields.append("status")
        self.save(update_fields=fields)

    def block(self, reason: str = "") -> None:
        """Turn the participant away; their answers stop counting toward items' wanted answers.

        Every caller (a researcher, the gold rule, the answer rules) goes through here, so
        ``Item.answer_count`` always counts the answers of participants who are not blocked:
        the engine then reopens the slots a blocked participant filled, and progress says so.
        Their live reservations are released at once. Blocking twice changes nothing more.
        """
        with transaction.atomic():
            # FOR UPDATE (not NO KEY): waits for this participant's submits in flight, whose
            # answer inserts hold a key-share lock on this row, so their answers are counted.
            status = (
                Participant.objects.select_for_update()
                .filter(pk=self.pk)
                .values_list("status", flat=True)
                .get()
            )
            if status != self.Status.BLOCKED:
                self._answers_count_shift(-1)
                self.assignments.filter(status=Assignment.Status.RESERVED).update(
                    status=Assignment.Status.EXPIRED
                )
            self.status = self.Status.BLOCKED
            self.blocked_reason = reason[:200]
            self.save(update_fields=["status", "blocked_reason"])

    def unblock(self) -> None:
        """Let the participant back in; their answers count again toward items' wanted answers.

        A participant who had finished (``finished_at``) stays finished, and one who failed
        the qualification stays screened out: unblocking undoes the block, nothing else.
        """
        with transaction.atomic():
            status = (
                Participant.objects.select_for_update()
                .filter(pk=self.pk)
                .values_list("status", flat=True)
                .get()
            )
            if status == self.Status.BLOCKED:
                self._answers_count_shift(+1)
            if self.finished_at is not None:
                self.status = self.Status.FINISHED
            elif self.qualification_passed is False:
                self.status = self.Status.SCREENED
            else:
                self.status = self.Status.ACTIVE
            self.blocked_reason = ""
            self.save(update_fields=["status", "blocked_reason"])

    def _answers_count_shift(self, delta: int) -> None:
        # Relative update: under PostgreSQL's row lock it applies to the latest count, so a
        # concurrent submit by someone else on the same item is never lost. One answer per
        # item and participant (unique assignment), so each item moves by exactly one.
        answered = Annotation.objects.filter(participant_id=self.pk).values("item_id")
        Item.objects.filter(pk__in=answered).update(answer_count=F("answer_count") + delta)


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


class MediaPlay(models.Model):
    """A participant started (and perhaps finished) playing one media file of an assignment.

    Written by the crowd's play-event view when the browser's player starts; the answer to an
    item whose task type requires the clip heard to the end is refused until a play started
    at least the clip's duration ago (``apps.core.plays``). Replays add rows.
    """

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="plays")
    key = models.CharField(max_length=40)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["assignment", "key"], name="mediaplay_assignment_idx")]

    def __str__(self) -> str:
        return f"play {self.assignment_id}:{self.key}"


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


class ResultsSnapshot(models.Model):
    """A project's results, computed on the worker and kept until the answers change.

    ``version`` fingerprints what the results were computed from (answers, skips, blocks,
    items, settings; see ``results_cache.results_version``); the page shows the snapshot while
    the fingerprint matches, instead of refitting Dawid–Skene on every view.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="results_snapshot"
    )
    version = models.CharField(max_length=64)
    data = models.JSONField(default=dict)  # Results.to_dict(), inline SVGs, counted answers
    computed_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    # The newer version the worker was last asked for, and when: a page that sees it asked
    # long ago with no answer (no worker running) computes the results itself.
    requested_version = models.CharField(max_length=64, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"results of project {self.project_id} ({self.version[:8]})"
