"""Keys made before scopes (djangorestframework-api-key's own table) become agent keys with every
scope: they keep what they could do (design.md §5). Same id, prefix and hash, so the secrets in
use keep working. The old rows are deleted: a revocation must have one place to happen."""

from django.db import migrations

# Frozen here (a migration must not change when the code does): every scope there was.
ALL_SCOPES = ["memory:read", "memory:propose", "chats", "owui-key:read", "owui-key:write"]

_COPIED = ("id", "prefix", "hashed_key", "created", "name", "revoked", "expiry_date")


def forwards(apps, schema_editor):
    old_model = apps.get_model("rest_framework_api_key", "APIKey")
    new_model = apps.get_model("youlab", "AgentKey")
    db = schema_editor.connection.alias
    for old in old_model.objects.using(db).order_by("created"):
        if not new_model.objects.using(db).filter(pk=old.pk).exists():
            new_model.objects.using(db).create(
                **{name: getattr(old, name) for name in _COPIED}, scopes=list(ALL_SCOPES),
            )
    old_model.objects.using(db).all().delete()


def backwards(apps, schema_editor):
    old_model = apps.get_model("rest_framework_api_key", "APIKey")
    new_model = apps.get_model("youlab", "AgentKey")
    db = schema_editor.connection.alias
    for new in new_model.objects.using(db).order_by("created"):
        old_model.objects.using(db).update_or_create(
            pk=new.pk, defaults={name: getattr(new, name) for name in _COPIED if name != "id"},
        )


class Migration(migrations.Migration):

    dependencies = [
        ("youlab", "0001_initial"),
        ("rest_framework_api_key", "0005_auto_20220110_1102"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
