"""Item.answer_count stops counting the answers of blocked participants.

Before, a blocked participant's answers still filled their items' wanted answers, so the
engine never reopened those slots. Recount the items such participants answered, once.
"""

from django.db import migrations
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce


def recount(apps, schema_editor):
    Item = apps.get_model("core", "Item")
    Annotation = apps.get_model("core", "Annotation")
    touched = Annotation.objects.filter(participant__status="blocked").values("item_id")
    counted = (
        Annotation.objects.filter(item_id=OuterRef("pk"))
        .filter(~Q(participant__status="blocked"))
        .values("item_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    Item.objects.filter(pk__in=touched).update(answer_count=Coalesce(Subquery(counted), 0))


class Migration(migrations.Migration):
    dependencies = [("core", "0012_project_pseudonym_salt")]

    operations = [migrations.RunPython(recount, migrations.RunPython.noop)]
