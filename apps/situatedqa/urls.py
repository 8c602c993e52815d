from django.urls import path

from . import views

urlpatterns = [
    path("evaluate/", views.evaluation_page, name="evaluate"),
]
