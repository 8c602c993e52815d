"""The REST API: one view per operation, ``<Entity><Action>Api``.

Every project-scoped view reaches its project through ``project_for_user`` (via
:func:`_project`): a project the caller is not a member of answers 404, a viewer's write
answers 404 too, so ids of other projects leak nothing. Errors are JSON; validation errors
are ``{"field": ["message", …]}``.
"""

from __future__ import annotations

import shutil
import tempfile

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files import File
from django.db import transaction
from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import exporting, hfdataset, registry, results_cache
from apps.core import quality as quality_reads
from apps.core.access import project_for_user, projects_for_user
from apps.core.mediaserve import media_response
from apps.core.models import Annotation, Item, ItemMedia, Job, Participant, Project
from apps.core.registry import json_ready
from apps.core.services import project_create
from apps.core.uploads import upload_problem
from apps.dashboard import selectors
from apps.dashboard.services import (
    StatusRefused,
    items_import_start,
    participant_block_set,
    project_settings_update,
    project_status_set,
)

from .parsers import RawUploadParser


def _project(request, slug: str, *, write: bool = False, owner: bool = False) -> Project:
    return project_for_user(request, slug, write=write, owner=owner)


class IdCursorPagination(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line (or entry) number; 0 = the file as a whole.")
    reason = serializers.CharField()


class ImportReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    errors = ImportErrorSerializer(many=True)
    notes = serializers.ListField(child=serializers.CharField())
    removed_by_rule = serializers.DictField(child=serializers.IntegerField())


class ImportJobSerializer(serializers.Serializer):
    job = serializers.IntegerField(help_text="The import Job; poll its url until it is done.")
    status = serializers.CharField()
    url = serializers.CharField()


class ProjectOutputSerializer(serializers.Serializer):
    slug = serializers.SlugField()
    title = serializers.CharField()
    task_type = serializers.CharField()
    status = serializers.ChoiceField(choices=Project.Status.choices)
    config = serializers.JSONField()
    overlap = serializers.IntegerField()
    items_per_participant = serializers.IntegerField(allow_null=True)
    gold_rate = serializers.FloatField()
    gold_block_below = serializers.FloatField(allow_null=True)
    gold_block_after = serializers.IntegerField()
    fast_block_below_s = serializers.FloatField(allow_null=True)
    fast_block_after = serializers.IntegerField()
    constant_block_after = serializers.IntegerField(allow_null=True)
    completion_code = serializers.CharField()
    screen_out_code = serializers.CharField()
    created_at = serializers.DateTimeField()
    role = serializers.CharField(help_text="Your role in this project.")


def _project_out(project: Project) -> dict:
    return ProjectOutputSerializer(project).data


class _ProjectFieldsSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True)
    consent_text = serializers.CharField(required=False, allow_blank=True)
    config = serializers.JSONField(required=False)
    overlap = serializers.IntegerField(min_value=1, max_value=100, required=False)
    items_per_participant = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    gold_rate = serializers.FloatField(min_value=0, max_value=1, required=False)
    gold_block_below = serializers.FloatField(
        min_value=0, max_value=1, required=False, allow_null=True
    )
    gold_block_after = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    fast_block_below_s = serializers.FloatField(min_value=0, required=False, allow_null=True)
    fast_block_after = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    constant_block_after = serializers.IntegerField(
        min_value=2, max_value=10000, required=False, allow_null=True
    )
    completion_code = serializers.CharField(max_length=40, required=False)
    screen_out_code = serializers.CharField(max_length=40, required=False, allow_blank=True)

    def validate_config(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


def _clean_config(task_type, config: dict) -> dict:
    """The task type's cleaned config, or field errors under ``config`` keyed by field path."""
    try:
        return task_type.clean_config({**task_type.default_config(), **config})
    except DjangoValidationError as exc:
        raise ValidationError({"config": registry.field_errors(exc)}) from None


class ProjectCreateInput(_ProjectFieldsSerializer):
    class Meta:
        ref_name = "ProjectCreateInput"

    slug = serializers.SlugField(max_length=80)
    task_type = serializers.CharField(max_length=40)

    def validate_slug(self, value):
        if Project.objects.filter(slug=value).exists():
            raise serializers.ValidationError("A project with this slug exists.")
        return value

    def validate_task_type(self, value):
        if value not in dict(registry.choices()):
            raise serializers.ValidationError(
                f"Unknown task type; use one of {', '.join(dict(registry.choices()))}."
            )
        return value


class ProjectUpdateInput(_ProjectFieldsSerializer):
    class Meta:
        ref_name = "ProjectUpdateInput"

    title = serializers.CharField(max_length=200, required=False)
    status = serializers.ChoiceField(choices=Project.Status.choices, required=False)


def _project_create(request) -> Response:
    data = ProjectCreateInput(data=request.data)
    data.is_valid(raise_exception=True)
    fields = dict(data.validated_data)
    task_type = registry.get(fields.pop("task_type"))
    config = _clean_config(task_type, fields.pop("config", {}))
    with transaction.atomic():
        project = project_create(
            owner=request.user,
            task_type=task_type.key,
            config=config,
            status=Project.Status.DRAFT,
            **fields,
        )
    return Response(_project_out(_project(request, project.slug)), status=status.HTTP_201_CREATED)


def _project_update(request, slug: str) -> Response:
    project = _project(request, slug, write=True)
    data = ProjectUpdateInput(data=request.data)
    data.is_valid(raise_exception=True)
    fields = dict(data.validated_data)
    new_status = fields.pop("status", None)
    task_type = registry.get(project.task_type)
    config = _clean_config(task_type, {**project.config, **fields.pop("config", {})})
    with transaction.atomic():
        project_settings_update(project=project, config=config, **fields)
        if new_status and new_status != project.status:
            try:
                project_status_set(project=project, status=new_status)
            except StatusRefused as exc:
                raise ValidationError({"status": [str(exc)]}) from None
    return Response(_project_out(project))


def _project_delete(request, slug: str) -> Response:
    project = _project(request, slug, owner=True)
    project.delete()
    return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectListApi(APIView):
    """``/api/projects/``: the caller's projects (GET) and a new one (POST)."""

    parser_classes = [JSONParser]

    @extend_schema(operation_id="projects_list", responses=ProjectOutputSerializer(many=True))
    def get(self, request):
        projects = projects_for_user(request.user).select_related("owner").order_by("-created_at")
        out = []
        for project in projects:
            project = _project(request, project.slug)  # sets the caller's role
            out.append(_project_out(project))
        return Response(out)

    @extend_schema(
        operation_id="projects_create",
        request=ProjectCreateInput,
        responses={201: ProjectOutputSerializer},
    )
    def post(self, request):
        return _project_create(request)


class ProjectDetailApi(APIView):
    """``/api/projects/{slug}/``: read (GET), change (PATCH) and delete (DELETE, owner only)."""

    parser_classes = [JSONParser]

    @extend_schema(operation_id="projects_retrieve", responses=ProjectOutputSerializer)
    def get(self, request, slug: str):
        return Response(_project_out(_project(request, slug)))

    @extend_schema(
        operation_id="projects_partial_update",
        request=ProjectUpdateInput,
        responses=ProjectOutputSerializer,
    )
    def patch(self, request, slug: str):
        return _project_update(request, slug)

    @extend_schema(operation_id="projects_destroy", responses={204: None})
    def delete(self, request, slug: str):
        return _project_delete(request, slug)


# The paths before the API was resource-shaped, kept for one release. They are marked
# deprecated in the schema and answer with a ``Deprecation`` header and a ``Link`` to the
# path that replaces them (RFC 8594 / 9745), so clients see it without reading the notes.
DEPRECATED_NOTE = "Deprecated: use {method} {path}; this path goes away in the next release."


class _DeprecatedAlias(APIView):
    parser_classes = [JSONParser]
    successor = ""  # the URL name that replaces this path

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Deprecation"] = "true"
        successor = reverse(f"api:{self.successor}", kwargs=kwargs or None)
        response["Link"] = f'<{successor}>; rel="successor-version"'
        return response


class ProjectCreateApi(_DeprecatedAlias):
    successor = "project_list"

    @extend_schema(
        operation_id="projects_create_deprecated",
        deprecated=True,
        description=DEPRECATED_NOTE.format(method="POST", path="/api/projects/"),
        request=ProjectCreateInput,
        responses={201: ProjectOutputSerializer},
    )
    def post(self, request):
        return _project_create(request)


class ProjectUpdateApi(_DeprecatedAlias):
    successor = "project_detail"

    @extend_schema(
        operation_id="projects_partial_update_deprecated",
        deprecated=True,
        description=DEPRECATED_NOTE.format(method="PATCH", path="/api/projects/{slug}/"),
        request=ProjectUpdateInput,
        responses=ProjectOutputSerializer,
    )
    def patch(self, request, slug: str):
        return _project_update(request, slug)


class ProjectDeleteApi(_DeprecatedAlias):
    successor = "project_detail"

    @extend_schema(
        operation_id="projects_destroy_deprecated",
        deprecated=True,
        description=DEPRECATED_NOTE.format(method="DELETE", path="/api/projects/{slug}/"),
        responses={204: None},
    )
    def delete(self, request, slug: str):
        return _project_delete(request, slug)


class ItemListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ItemListOutput"

        id = serializers.CharField(source="external_id")
        kind = serializers.CharField()
        payload = serializers.JSONField()
        gold = serializers.JSONField(source="gold_value", allow_null=True)
        priority = serializers.FloatField()
        stage = serializers.CharField()
        parent = serializers.CharField(source="parent.external_id", default=None, allow_null=True)
        group = serializers.CharField()
        wanted_answers = serializers.IntegerField(allow_null=True)
        lists = serializers.ListField(child=serializers.IntegerField())
        media = serializers.SerializerMethodField()
        answer_count = serializers.IntegerField()

        @extend_schema_field({"type": "object", "additionalProperties": {"type": "object"}})
        def get_media(self, item) -> dict:
            """{key: {content_type, size, url}}; the URL answers with the file (same auth)."""
            return {
                m.key: {
                    "content_type": m.content_type,
                    "size": m.size,
                    "url": reverse(
                        "api:item_media", args=[item.project.slug, item.external_id, m.key]
                    ),
                }
                for m in item.media_files.all()
            }

    @extend_schema(
        operation_id="items_list",
        responses=OutputSerializer(many=True),
        parameters=[OpenApiParameter("page_size", int, required=False)],
    )
    def get(self, request, slug: str):
        project = _project(request, slug)
        paginator = IdCursorPagination()
        items = (
            Item.objects.filter(project=project)
            .select_related("parent")
            .prefetch_related("media_files")
        )
        page = paginator.paginate_queryset(items, request, self)
        for item in page:
            item.project = project
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class ItemMediaApi(APIView):
    """One media file of an item, with range requests (or the storage's signed URL)."""

    @extend_schema(
        operation_id="items_media",
        responses={(200, "*/*"): OpenApiTypes.BINARY, 404: OpenApiResponse(description="none")},
    )
    def get(self, request, slug: str, external_id: str, key: str):
        project = _project(request, slug)
        media = ItemMedia.objects.filter(
            item__project=project, item__external_id=external_id, key=key
        ).first()
        if media is None:
            raise NotFound("No such media file.")
        return media_response(request, media)


class ItemImportApi(APIView):
    """Bulk import, all-or-nothing: a multipart ``file``, or the raw body with ``?type=``."""

    parser_classes = RawUploadParser
    FORMATS = ["jsonl", "json", "csv", "zip"]

    @extend_schema(
        operation_id="items_import",
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            },
            "application/x-ndjson": OpenApiTypes.BINARY,
            "text/csv": OpenApiTypes.BINARY,
            "application/zip": OpenApiTypes.BINARY,
        },
        parameters=[
            OpenApiParameter(
                "type",
                str,
                enum=FORMATS,
                required=False,
                description="The raw body's format (multipart uploads are named by their file).",
            )
        ],
        responses={
            201: ImportReportSerializer,
            202: ImportJobSerializer,
            400: ImportReportSerializer,
            411: ImportReportSerializer,
            413: ImportReportSerializer,
        },
    )
    def post(self, request, slug: str):
        project = _project(request, slug, write=True)
        limit = settings.CHORUS_MAX_UPLOAD_BYTES
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # WSGI hands Django a chunked body as an empty stream: refuse it rather than
            # answer "0 items imported" for data that was never read.
            return self._refused(
                "Chunked uploads are not supported: send the body with a Content-Length "
                "(curl --data-binary @file, or a multipart 'file' field).",
                411,
            )
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit + 64 * 1024:  # refused before a byte of the body is read
            return self._refused(upload_problem(name="upload", size=length), 413)
        if request.content_type.startswith("multipart/form-data"):
            upload = request.FILES.get("file")
            if upload is None:
                raise ValidationError({"file": ["Attach the data as a multipart field 'file'."]})
            return self._import(request, project, upload, upload.name)
        # Not ?format=: DRF keeps that name for choosing the response's renderer.
        fmt = request.query_params.get("type", "")
        if fmt not in self.FORMATS:
            raise ValidationError(
                {"type": [f"Give ?type= one of {', '.join(self.FORMATS)} for a raw body."]}
            )
        # Spooled to a temporary file: a zip needs to seek, and the size is then known.
        with tempfile.SpooledTemporaryFile(max_size=8 * 2**20) as body:
            shutil.copyfileobj(request._request, body, 1 << 20)
            size = body.tell()
            body.seek(0)
            return self._import(request, project, File(body, name=f"upload.{fmt}"), None, size)

    def _import(self, request, project, upload, name: str | None, size=None) -> Response:
        name = name or upload.name
        size = size if size is not None else getattr(upload, "size", None)
        if problem := upload_problem(name=name, size=size):
            too_big = "limit" in problem
            return self._refused(problem, 413 if too_big else 400)
        if size == 0:
            return self._refused(f"{name}: the body is empty; nothing was imported.", 400)
        upload.size = size
        # Above the dashboard's inline size, the import runs on the worker as a Job (what the
        # Data tab does): no web request holds a transaction and the file for minutes.
        outcome = items_import_start(project=project, upload=upload, user=request.user)
        if isinstance(outcome, Job):
            return Response(
                {
                    "job": outcome.pk,
                    "status": outcome.status,
                    "url": reverse("api:job_detail", args=[project.slug, outcome.pk]),
                },
                status=202,
            )
        report = outcome
        if report.ok and report.created == 0 and not report.removed_by_rule:
            report.error(0, f"{name}: no items found in the file; nothing was imported.")
        return Response(report.as_dict(), status=201 if report.ok else 400)

    @staticmethod
    def _refused(reason: str, code: int) -> Response:
        return Response(
            {
                "created": 0,
                "errors": [{"line": 0, "reason": reason}],
                "notes": [],
                "removed_by_rule": {},
            },
            status=code,
        )


class AnnotationListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnnotationListFilter"

        participant = serializers.UUIDField(required=False, help_text="A participant's public id.")
        item = serializers.CharField(required=False, help_text="An item's id (external id).")
        since = serializers.DateTimeField(
            required=False, help_text="Only answers stored at or after this time."
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AnnotationListOutput"

        id = serializers.IntegerField()
        item = serializers.CharField(source="item.external_id")
        participant = serializers.UUIDField(source="participant.public_id")
        participant_status = serializers.CharField(source="participant.status")
        value = serializers.JSONField()
        duration_ms = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="annotations_list",
        parameters=[FilterSerializer],
        responses=OutputSerializer(many=True),
    )
    def get(self, request, slug: str):
        project = _project(request, slug)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = Annotation.objects.filter(project=project).select_related("item", "participant")
        if "participant" in filters.validated_data:
            qs = qs.filter(participant__public_id=filters.validated_data["participant"])
        if "item" in filters.validated_data:
            qs = qs.filter(item__external_id=filters.validated_data["item"])
        if "since" in filters.validated_data:
            qs = qs.filter(created_at__gte=filters.validated_data["since"])
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(qs, request, self)
        return paginator.get_paginated_response(self.OutputSerializer(page, many=True).data)


class ParticipantOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="participant.public_id")
    source = serializers.CharField(source="participant.source")
    external_id = serializers.CharField(source="participant.external_id")
    status = serializers.CharField(source="participant.status")
    blocked_reason = serializers.CharField(source="participant.blocked_reason")
    qualification_passed = serializers.BooleanField(
        source="participant.qualification_passed",
        allow_null=True,
        help_text="The latest qualification check: passed, failed, or null (not taken).",
    )
    qualified_at = serializers.DateTimeField(source="participant.qualified_at", allow_null=True)
    answers = serializers.IntegerField()
    median_seconds = serializers.FloatField(allow_null=True)
    gold_correct = serializers.IntegerField()
    gold_answered = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(
        allow_null=True, help_text="Share of labels equal to the majority label."
    )


class ParticipantListApi(APIView):
    @extend_schema(
        operation_id="participants_list", responses=ParticipantOutputSerializer(many=True)
    )
    def get(self, request, slug: str):
        project = _project(request, slug)
        # The worker's stored figures when they are current (exact); computed now otherwise.
        quality = selectors.project_quality(
            project=project, data=results_cache.quality_stored(project=project)
        )
        return Response(ParticipantOutputSerializer(quality.rows, many=True).data)


class ParticipantBlockApi(APIView):
    parser_classes = [JSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ParticipantBlockInput"

        blocked = serializers.BooleanField()
        reason = serializers.CharField(max_length=200, required=False, allow_blank=True)

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ParticipantBlockOutput"

        id = serializers.UUIDField(source="public_id")
        status = serializers.CharField()
        blocked_reason = serializers.CharField()

    @extend_schema(
        operation_id="participants_block", request=InputSerializer, responses=OutputSerializer
    )
    def post(self, request, slug: str, public_id):
        project = _project(request, slug, write=True)
        participant = Participant.objects.filter(project=project, public_id=public_id).first()
        if participant is None:
            raise NotFound("No such participant in this project.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        participant_block_set(
            participant=participant,
            blocked=data.validated_data["blocked"],
            reason=data.validated_data.get("reason", ""),
        )
        return Response(self.OutputSerializer(participant).data)


class AggregateListApi(APIView):
    class FilterSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AggregateListFilter"

        method = serializers.CharField(
            default="majority", required=False, help_text="majority or dawid_skene"
        )

    class LabelSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AggregateListLabel"

        item_id = serializers.CharField()
        label = serializers.JSONField()
        confidence = serializers.FloatField()
        answers = serializers.IntegerField()

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AggregateListOutput"

        method = serializers.CharField()
        alpha = serializers.FloatField(allow_null=True, help_text="Krippendorff's alpha.")
        level_of_measurement = serializers.CharField()
        labels = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="aggregates_list", parameters=[FilterSerializer], responses=OutputSerializer
    )
    def get(self, request, slug: str):
        project = _project(request, slug)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        method = filters.validated_data.get("method", "majority")
        if method not in {m.key for m in exporting.aggregation_methods(project)}:
            raise ValidationError({"method": [f"{method!r} is not an aggregation method here."]})
        task_type = registry.get(project.task_type)
        with quality_reads.shared_reads():
            aggregates = quality_reads.project_aggregate(project, method)
            alpha = quality_reads.krippendorff_alpha(
                quality_reads.answers_frame(project), task_type.level_of_measurement
            )
        ids = dict(
            Item.objects.filter(project=project, pk__in=list(aggregates)).values_list(
                "id", "external_id"
            )
        )
        labels = [
            {
                "item_id": ids.get(pk, str(pk)),
                "label": json_ready(agg.label),
                "confidence": agg.confidence,
                "answers": agg.n,
            }
            for pk, agg in aggregates.items()
        ]
        return Response(
            {
                "method": method,
                "alpha": alpha,
                "level_of_measurement": task_type.level_of_measurement,
                "labels": labels,
            }
        )


class ExportApi(APIView):
    """Streamed in constant memory; CSV cells beginning = + - @ are neutralised. ``native`` is
    a record set's own layout where it has one (SituatedQA's official JSON lines)."""

    @extend_schema(
        operation_id="export_download",
        responses={
            (200, "application/x-ndjson"): OpenApiTypes.BINARY,
            (200, "text/csv"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request, slug: str, what: str, fmt: str) -> StreamingHttpResponse:
        project = _project(request, slug)
        try:
            return exporting.export_response(project, what=what, fmt=fmt)
        except exporting.UnknownExport as exc:
            raise NotFound(str(exc)) from None


class JobOutputSerializer(serializers.Serializer):
    """A background Job as the API shows it (training, prediction, dataset export)."""

    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=Job.Status.choices)
    progress = serializers.FloatField()
    message = serializers.CharField()
    result = serializers.JSONField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


def job_out(job: Job) -> dict:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": job.progress,
        "message": job.message,
        "result": job.result,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


class HfExportOutputSerializer(JobOutputSerializer):
    download_url = serializers.CharField(allow_null=True, help_text="Set once it succeeded.")


def _hf_export_out(request, job: Job) -> dict:
    done = job.status == Job.Status.SUCCEEDED
    url = reverse("api:hf_export_download", args=[job.project.slug, job.pk]) if done else None
    return {**job_out(job), "download_url": request.build_absolute_uri(url) if url else None}


def _hf_export_job(project: Project, pk: int) -> Job:
    job = hfdataset.hf_exports_for(project).filter(pk=pk).select_related("project").first()
    if job is None:
        raise NotFound("No such export.")
    return job


class HfExportListApi(APIView):
    """Hugging Face dataset exports: a background Job each; the finished one is a zip."""

    @extend_schema(
        operation_id="hf_export_list", responses={200: HfExportOutputSerializer(many=True)}
    )
    def get(self, request, slug: str):
        project = _project(request, slug)
        jobs = hfdataset.hf_exports_for(project).select_related("project")[:50]
        return Response([_hf_export_out(request, job) for job in jobs])

    @extend_schema(
        operation_id="hf_export_start", request=None, responses={202: HfExportOutputSerializer}
    )
    def post(self, request, slug: str):
        project = _project(request, slug, write=True)
        job = hfdataset.hf_export_start(project=project, user=request.user)
        job.refresh_from_db()  # an eager run (tests, CELERY_TASK_ALWAYS_EAGER) finished it
        return Response(_hf_export_out(request, job), status=status.HTTP_202_ACCEPTED)


class HfExportDetailApi(APIView):
    @extend_schema(operation_id="hf_export_detail", responses={200: HfExportOutputSerializer})
    def get(self, request, slug: str, pk: int):
        job = _hf_export_job(_project(request, slug), pk)
        return Response(_hf_export_out(request, job))


class HfExportDownloadApi(APIView):
    @extend_schema(
        operation_id="hf_export_download",
        responses={
            (200, "application/zip"): OpenApiTypes.BINARY,
            404: OpenApiResponse(ErrorSerializer),
        },
    )
    def get(self, request, slug: str, pk: int):
        job = _hf_export_job(_project(request, slug), pk)
        return hfdataset.zip_response(job)
