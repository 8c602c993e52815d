"""The model loop over REST: versions, training, activation, predictions and job status.

Same rules as the rest of the API (``apps/api``): token auth, a project the caller is not a
member of answers 404, a viewer may read but not train or activate.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.api.views import IdCursorPagination, JobOutputSerializer, _project, job_out
from ml.config import FieldSpec, TrainingError

from . import selectors, services, trainers


class ModelVersionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    trainer = serializers.CharField()
    status = serializers.CharField()
    active = serializers.BooleanField()
    config = serializers.JSONField()
    seed = serializers.IntegerField()
    code_version = serializers.CharField()
    metrics = serializers.JSONField()
    data_snapshot_counts = serializers.JSONField()
    device = serializers.CharField()
    predictions = serializers.IntegerField()
    created_at = serializers.DateTimeField()


def _version_out(version, active_id) -> dict:
    snapshot = version.data_snapshot or {}
    return {
        "id": version.pk,
        "number": version.number,
        "trainer": version.trainer,
        "status": version.status,
        "active": version.pk == active_id,
        "config": version.config,
        "seed": version.seed,
        "code_version": version.code_version,
        "metrics": version.metrics,
        "data_snapshot_counts": {k: v for k, v in snapshot.items() if not isinstance(v, list)},
        "device": version.device,
        "predictions": getattr(version, "n_predictions", 0),
        "created_at": version.created_at,
    }


class ModelVersionListApi(APIView):
    @extend_schema(
        operation_id="model_list", responses={200: ModelVersionOutputSerializer(many=True)}
    )
    def get(self, request, slug: str):
        project = _project(request, slug)
        active_id = selectors.modelloop_settings_for(project).active_version_id
        versions = selectors.modelversions_for(project)
        return Response([_version_out(v, active_id) for v in versions])


def _serializer_field(spec: FieldSpec) -> serializers.Field:
    common = {"required": False, "help_text": spec.help or spec.label}
    if spec.optional:
        common["allow_null"] = True
    if spec.choices is not None:
        return serializers.ChoiceField(choices=[v for v, _ in spec.choices], **common)
    if spec.kind is bool:
        return serializers.BooleanField(**common)
    if spec.kind is int:
        return serializers.IntegerField(min_value=spec.min, max_value=spec.max, **common)
    if spec.kind is float:
        return serializers.FloatField(min_value=spec.min, max_value=spec.max, **common)
    return serializers.CharField(allow_blank=True, max_length=300, **common)


def train_input_serializer(trainer: trainers.Trainer) -> type[serializers.Serializer]:
    """The train API's input, built from the trainer's Config like the dashboard's form."""
    fields = {spec.name: _serializer_field(spec) for spec in trainer.Config.fields_spec()}
    return type(f"{type(trainer).__name__}TrainInput", (serializers.Serializer,), fields)


class ModelTrainApi(APIView):
    @extend_schema(
        operation_id="model_train",
        request={"application/json": {"type": "object", "additionalProperties": True}},
        description="Fields: the project's trainer settings (see the Models tab); omitted "
        "fields take their defaults.",
        responses={202: JobOutputSerializer, 400: OpenApiResponse(description="Field errors")},
    )
    def post(self, request, slug: str):
        project = _project(request, slug, write=True)
        trainer = trainers.find(project.task_type)
        if trainer is None:
            raise ValidationError(
                {"task_type": [f"No model can be trained for {project.task_type!r} yet."]}
            )
        known = {spec.name for spec in trainer.Config.fields_spec()}
        unknown = sorted(set(request.data) - known)
        if unknown:
            raise ValidationError({name: ["Not a setting of this trainer."] for name in unknown})
        incoming = train_input_serializer(trainer)(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            config = services.train_config(trainer, dict(incoming.validated_data))
        except TrainingError as exc:
            name = str(exc).split(" ", 1)[0]
            raise ValidationError({name if name in known else "config": [str(exc)]}) from None
        job = services.training_start(project=project, user=request.user, config=config.to_dict())
        return Response(job_out(job), status=status.HTTP_202_ACCEPTED)


class ModelActivateApi(APIView):
    @extend_schema(
        operation_id="model_activate", request=None, responses={200: ModelVersionOutputSerializer}
    )
    def post(self, request, slug: str, pk: int):
        project = _project(request, slug, write=True)
        version = selectors.modelversion_for(project, pk)
        services.modelversion_activate(project=project, version=version)
        return Response(_version_out(version, version.pk))


class PredictionOutputSerializer(serializers.Serializer):
    item_id = serializers.CharField()
    value = serializers.JSONField()
    uncertainty = serializers.FloatField()


class PredictionListApi(APIView):
    @extend_schema(
        operation_id="prediction_list", responses={200: PredictionOutputSerializer(many=True)}
    )
    def get(self, request, slug: str, pk: int):
        project = _project(request, slug)
        version = selectors.modelversion_for(project, pk)
        paginator = IdCursorPagination()
        page = paginator.paginate_queryset(selectors.predictions_for(version), request, view=self)
        rows = [
            {
                "item_id": p.item.external_id,
                "value": p.value,
                "uncertainty": p.uncertainty,
            }
            for p in page
        ]
        return paginator.get_paginated_response(rows)


class JobDetailApi(APIView):
    @extend_schema(operation_id="job_detail", responses={200: JobOutputSerializer})
    def get(self, request, slug: str, pk: int):
        project = _project(request, slug)
        return Response(job_out(selectors.job_for(project, pk)))
