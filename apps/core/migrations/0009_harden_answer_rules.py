from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0008_harden_job_lease"),
    ]

    operations = [
        migrations.AddField(
            model_name="project",
            name="fast_block_below_s",
            field=models.FloatField(
                blank=True,
                help_text="Block a participant whose median seconds per item is below this.",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="fast_block_after",
            field=models.PositiveIntegerField(
                default=10, help_text="…once they have answered at least this many items."
            ),
        ),
        migrations.AddField(
            model_name="project",
            name="constant_block_after",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Block a participant whose last this many answers are all the same.",
                null=True,
            ),
        ),
    ]
