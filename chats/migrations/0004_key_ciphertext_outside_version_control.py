"""Learners' OpenWebUI key ciphertexts move to user_api_key_secrets, a table Dolt never commits
(dolt_ignore), so a replaced or deleted key is in no commit; plaintext reads get an audit table.

The dolt_ignore row is written before the table exists: Dolt only ignores untracked tables.
Ciphertexts committed before this migration stay in the old commits of user_api_keys; retire the
Fernet key that made them (README "Security": new key first, rotate_secrets, drop the old key).
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from youlab import dolt

SECRET_TABLE = "user_api_key_secrets"


def ignore_secret_table(apps, schema_editor):
    dolt.ignore_table(SECRET_TABLE, using=schema_editor.connection.alias)


def unignore_secret_table(apps, schema_editor):
    dolt.unignore_table(SECRET_TABLE, using=schema_editor.connection.alias)


def move_ciphertexts(apps, schema_editor):
    keys = apps.get_model("chats", "UserApiKey")
    secrets = apps.get_model("chats", "UserApiKeySecret")
    db = schema_editor.connection.alias
    secrets.objects.using(db).bulk_create(
        [secrets(key_id=pk, ciphertext=ciphertext)
         for pk, ciphertext in keys.objects.using(db).values_list("pk", "ciphertext")],
        batch_size=500,
    )


def move_ciphertexts_back(apps, schema_editor):
    keys = apps.get_model("chats", "UserApiKey")
    secrets = apps.get_model("chats", "UserApiKeySecret")
    db = schema_editor.connection.alias
    for key_id, ciphertext in secrets.objects.using(db).values_list("key_id", "ciphertext"):
        keys.objects.using(db).filter(pk=key_id).update(ciphertext=ciphertext)


class Migration(migrations.Migration):

    dependencies = [
        ("chats", "0003_identifier_collation"),
    ]

    operations = [
        migrations.RunPython(ignore_secret_table, unignore_secret_table),
        migrations.CreateModel(
            name="UserApiKeySecret",
            fields=[
                ("key", models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.CASCADE,
                                             primary_key=True, related_name="secret", serialize=False,
                                             to="chats.userapikey")),
                ("ciphertext", models.TextField()),
            ],
            options={"db_table": SECRET_TABLE},
        ),
        migrations.RunPython(move_ciphertexts, move_ciphertexts_back),
        migrations.RemoveField(model_name="userapikey", name="ciphertext"),
        migrations.CreateModel(
            name="OwuiKeyRead",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("user_id", models.CharField(db_collation="utf8mb4_0900_bin", max_length=255)),
                ("agent_key_name", models.CharField(max_length=255)),
                ("agent_key_prefix", models.CharField(blank=True, default="", max_length=16)),
                ("read_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={
                "verbose_name": "OpenWebUI key read",
                "db_table": "owui_key_reads",
                "ordering": ["-read_at", "-id"],
                "indexes": [models.Index(fields=["user_id", "read_at"], name="owui_key_reads_user_read")],
            },
        ),
    ]
