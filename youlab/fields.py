"""Model fields that work around Dolt behaviour."""

from django.db import models


class JSONField(models.JSONField):
    """A JSONField whose column is read as CAST(col AS CHAR).

    Dolt 2.2.0 returns '' for a JSON value larger than about 2 KB when a query reads the column
    directly on a table scan or a primary-key IN lookup (e.g. every changelist and list route);
    the stored value is intact and reads correctly once the column is evaluated. The cast makes
    every read go that way.
    """

    def select_format(self, compiler, sql, params):
        sql, params = super().select_format(compiler, sql, params)
        if compiler.connection.vendor == "mysql":
            return f"CAST({sql} AS CHAR)", params
        return sql, params


# Identifiers (owner ids, labels, module chat ids, key owners) compare exactly: the database
# default utf8mb4_0900_ai_ci would make "Café" and "cafe" (or NFC and NFD spellings, which v1 kept
# as different files) one row, and Dolt 2.2 applies that collation inconsistently to IN lookups.
# Free text keeps ai_ci.
IDENTIFIER_COLLATION = "utf8mb4_0900_bin"
