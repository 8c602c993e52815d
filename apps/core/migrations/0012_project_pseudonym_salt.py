"""Each project gets its own stored key for participant pseudonyms in dataset exports.

Added empty, filled with a fresh random key per existing project (a callable default on
AddField would give every existing row the same one), then given its default for new rows.
"""

import secrets

from django.db import migrations, models

import apps.core.models


def salts_fill(apps, schema_editor):
    Project = apps.get_model("core", "Project")
    for pk in Project.objects.filter(pseudonym_salt="").values_list("pk", flat=True):
        Project.objects.filter(pk=pk).update(pseudonym_salt=secrets.token_hex(32))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0011_media_plays_simulated"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="pseudonym_salt",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(salts_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="project",
            name="pseudonym_salt",
            field=models.CharField(
                default=apps.core.models.pseudonym_salt_new, editable=False, max_length=64
            ),
        ),
    ]
