from django.urls import path

from . import views

app_name = "training"
urlpatterns = [
    path("", views.model_list, name="model_list"),
]
