from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.training import api as training_api

from . import views

app_name = "api"

# Swagger UI comes from drf-spectacular-sidecar (static files of this site, nothing fetched
# from elsewhere); the split view serves its start-up script as a file, so the page needs no
# inline script and the site's CSP holds unchanged.
docs = SpectacularSwaggerSplitView.as_view(url_name="api:schema")
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs, name="docs"),
    path("projects/", views.ProjectListApi.as_view(), name="project_list"),
    # Deprecated aliases (one release): POST /projects/, PATCH and DELETE /projects/{slug}/.
    path("projects/create/", views.ProjectCreateApi.as_view(), name="project_create"),
    path("projects/<slug:slug>/", views.ProjectDetailApi.as_view(), name="project_detail"),
    path("projects/<slug:slug>/update/", views.ProjectUpdateApi.as_view(), name="project_update"),
    path("projects/<slug:slug>/delete/", views.ProjectDeleteApi.as_view(), name="project_delete"),
    path("projects/<slug:slug>/items/", views.ItemListApi.as_view(), name="item_list"),
    path("projects/<slug:slug>/items/import/", views.ItemImportApi.as_view(), name="item_import"),
    path(
        "projects/<slug:slug>/items/<path:external_id>/media/<str:key>/",
        views.ItemMediaApi.as_view(),
        name="item_media",
    ),
    path(
        "projects/<slug:slug>/annotations/",
        views.AnnotationListApi.as_view(),
        name="annotation_list",
    ),
    path(
        "projects/<slug:slug>/participants/",
        views.ParticipantListApi.as_view(),
        name="participant_list",
    ),
    path(
        "projects/<slug:slug>/participants/<uuid:public_id>/block/",
        views.ParticipantBlockApi.as_view(),
        name="participant_block",
    ),
    path(
        "projects/<slug:slug>/aggregates/",
        views.AggregateListApi.as_view(),
        name="aggregate_list",
    ),
    path(
        "projects/<slug:slug>/export/<str:what>.<str:fmt>",
        views.ExportApi.as_view(),
        name="export",
    ),
    path(
        "projects/<slug:slug>/exports/",
        views.HfExportListApi.as_view(),
        name="hf_export_list",
    ),
    path(
        "projects/<slug:slug>/exports/<int:pk>/",
        views.HfExportDetailApi.as_view(),
        name="hf_export_detail",
    ),
    path(
        "projects/<slug:slug>/exports/<int:pk>/download/",
        views.HfExportDownloadApi.as_view(),
        name="hf_export_download",
    ),
    path(
        "projects/<slug:slug>/models/",
        training_api.ModelVersionListApi.as_view(),
        name="model_list",
    ),
    path(
        "projects/<slug:slug>/models/train/",
        training_api.ModelTrainApi.as_view(),
        name="model_train",
    ),
    path(
        "projects/<slug:slug>/models/<int:pk>/activate/",
        training_api.ModelActivateApi.as_view(),
        name="model_activate",
    ),
    path(
        "projects/<slug:slug>/models/<int:pk>/predictions/",
        training_api.PredictionListApi.as_view(),
        name="prediction_list",
    ),
    path(
        "projects/<slug:slug>/jobs/<int:pk>/",
        training_api.JobDetailApi.as_view(),
        name="job_detail",
    ),
]
