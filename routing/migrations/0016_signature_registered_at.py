"""An issue's newest members are read from one index: the member's registration time is kept beside it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("routing", "0015_event_kind_choices")]

    operations = [
        migrations.AddField(model_name="ticketsignature", name="registered_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.RunSQL(
            "UPDATE routing_ticketsignature SET registered_at = (SELECT t.registered_at FROM routing_ticket t WHERE t.id = routing_ticketsignature.ticket_id)",
            migrations.RunSQL.noop,
        ),
        migrations.RemoveIndex(model_name="ticketsignature", name="signature_issue"),
        migrations.AddIndex(
            model_name="ticketsignature",
            index=models.Index(fields=["issue", "-registered_at", "-ticket"], name="signature_issue_time"),
        ),
    ]
