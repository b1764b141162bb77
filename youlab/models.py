"""Agent API keys: djangorestframework-api-key's hashed keys, with scopes (design.md §5).

API plumbing, so it lives on the ground floor with the rest of youlab.api. The scopes say which
routes a key may call; `youlab.api.permissions` checks them and each route declares its own.
"""

from __future__ import annotations

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, APIKeyManager

from youlab.fields import JSONField


class Scope(models.TextChoices):
    MEMORY_READ = "memory:read", "read blocks, history, shared blocks, proposals and exports"
    MEMORY_PROPOSE = "memory:propose", "propose changes to blocks"
    CHATS = "chats", "read and set module chats"
    OWUI_KEY_READ = "owui-key:read", "read learners' OpenWebUI keys in plaintext"
    OWUI_KEY_WRITE = "owui-key:write", "set and delete learners' OpenWebUI keys"


ALL_SCOPES: tuple[str, ...] = tuple(Scope.values)
# A learner's OpenWebUI key only when asked for (create_agent_key --scopes).
DEFAULT_SCOPES: tuple[str, ...] = (Scope.MEMORY_READ, Scope.MEMORY_PROPOSE, Scope.CHATS)


class AgentKey(AbstractAPIKey):
    """An agent service's API key: stored hashed, shown once, named, scoped."""

    objects = APIKeyManager()

    scopes = JSONField(
        default=list, blank=True,
        help_text="What the key may do: memory:read, memory:propose, chats, owui-key:read, owui-key:write.",
    )
    # Set when the key authenticates a request, at most once a minute (youlab.api.auth).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        db_table = "agent_keys"
        verbose_name = "agent API key"
        verbose_name_plural = "agent API keys"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or ())
