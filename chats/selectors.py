"""Reads of module chats and of learners' OpenWebUI key records (writes go through
chats.services). Nothing here decrypts a key: the plaintext is read, and recorded, only by
chats.services.read_user_key.

Ids are looked up as they are (youlab.validators, `lookup=True`): a learner id from before the
no-surrounding-spaces rule still finds its rows.
"""

from __future__ import annotations

from django.db.models import QuerySet

from youlab.validators import validate_identifier

from .exceptions import KeyNotFound, ModuleChatNotFound
from .models import ModuleChat, UserApiKey


def chat_triple(*, user_id: str, agent_id: str, module_id: str, lookup: bool = False) -> dict:
    """The (learner, agent, module) triple as filter arguments, each id checked."""
    return {
        "user_id": validate_identifier(user_id, "user_id", lookup=lookup),
        "agent_id": validate_identifier(agent_id, "agent_id", lookup=lookup),
        "module_id": validate_identifier(module_id, "module_id", lookup=lookup),
    }


def get_module_chat(*, user_id: str, agent_id: str, module_id: str) -> ModuleChat:
    """The triple's current chat; ModuleChatNotFound when there is none or it was cleared."""
    triple = chat_triple(user_id=user_id, agent_id=agent_id, module_id=module_id, lookup=True)
    chat = ModuleChat.objects.filter(**triple).first()
    if chat is None or chat.is_cleared:
        raise ModuleChatNotFound(
            f"no chat for module {module_id!r} of agent {agent_id!r} and learner {user_id!r}"
        )
    return chat


def list_module_chats(*, user_id: str, agent_id: str | None = None) -> QuerySet[ModuleChat]:
    """The learner's current (not cleared) chats; an unknown learner has none."""
    chats = ModuleChat.objects.filter(user_id=validate_identifier(user_id, "user_id", lookup=True)).exclude(chat_id="")
    if agent_id is not None:
        chats = chats.filter(agent_id=validate_identifier(agent_id, "agent_id", lookup=True))
    return chats.order_by("agent_id", "module_id")


def get_user_key_record(*, user_id: str) -> UserApiKey:
    """The stored key's metadata (fingerprint, last 4, dates); never decrypts."""
    record = UserApiKey.objects.filter(user_id=validate_identifier(user_id, "user_id", lookup=True)).first()
    if record is None:
        raise KeyNotFound(f"learner {user_id!r} has no OpenWebUI key")
    return record
