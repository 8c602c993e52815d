from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0007_engine_participant_rules"),
    ]

    operations = [
        migrations.AddField(
            model_name="job",
            name="task_name",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="job",
            name="task_args",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="job",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="job",
            name="lease_owner",
            field=models.CharField(blank=True, max_length=120),
        ),
        migrations.AddField(
            model_name="job",
            name="lease_expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
