"""The `Reviewers` group: what reviewing agents' proposals needs, and nothing about learners'
keys (design.md §5 "Least privilege"; README "Security"). Add staff to it in the admin."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Reviewers"
PERMISSIONS = [
    ("diffs", "view_pendingdiff"),
    ("diffs", "change_pendingdiff"),  # approve, edit & approve, reject
    ("blocks", "view_block"),  # blocks, their history, the learner pages, the Dolt log
    ("blocks", "change_block"),  # edit content, revert, soft-delete and restore
    ("chats", "view_modulechat"),
    ("learners", "view_learner"),  # names beside learner ids, the learner's profile
]


def create_group(apps, schema_editor):
    db = schema_editor.connection.alias
    # Permissions are made after the last migration (post_migrate); on a fresh database they do
    # not exist yet, so make them now (create_permissions is idempotent).
    for label in {app for app, _ in PERMISSIONS}:
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, verbosity=0, apps=apps, using=db)
        config.models_module = None
    permission = apps.get_model("auth", "Permission")
    group, _ = apps.get_model("auth", "Group").objects.using(db).get_or_create(name=GROUP)
    for app_label, codename in PERMISSIONS:
        group.permissions.add(
            permission.objects.using(db).get(content_type__app_label=app_label, codename=codename)
        )


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name=GROUP).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("chats", "0004_key_ciphertext_outside_version_control"),
        ("blocks", "0005_dolt_json_reads"),
        ("diffs", "0004_dolt_json_reads"),
        ("learners", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
