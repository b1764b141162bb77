"""Who does something: one `Actor`, built once per request or command and passed down as `by=`.

An actor answers the three questions every change to learner data records:

* `history_actor` — the `actor` column of the history tables and the "(…)" in Dolt commit
  messages: `staff:<username>`, `agent:<key name>`, `import:<source>` or `system`;
* `author` — the Dolt commit author, "Name <email>";
* `user` — the Django user (staff only): `history_user` of history rows, `reviewer` of decisions.

Services never build these strings themselves; views build the actor from the request
(youlab.api.auth.request_actor, `Actor.staff(request.user)` in the admin), commands from their
options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from youlab import dolt

STAFF = "staff"
AGENT = "agent"
IMPORT = "import"
SYSTEM = "system"

# Agents have no email; their commits say which key made them.
AGENT_EMAIL = "agent@youlab.local"


def author_for_user(user) -> str:
    """The Dolt author for a Django user (a member of staff): full name, else username."""
    name = user.get_full_name() or user.get_username()
    email = user.email or f"{user.get_username()}@youlab.local"
    return dolt.author(name, email)


@dataclass(frozen=True)
class Actor:
    kind: str  # STAFF, AGENT, IMPORT or SYSTEM
    name: str = ""  # the username, the agent key's name, the import source ("" for the system)
    author: str = dolt.SYSTEM_AUTHOR
    user: Any = None  # the Django user, for staff

    @classmethod
    def staff(cls, user) -> Actor:
        return cls(STAFF, user.get_username(), author_for_user(user), user)

    @classmethod
    def agent(cls, key_name: str) -> Actor:
        return cls(AGENT, key_name, dolt.author(f"{AGENT}:{key_name}", AGENT_EMAIL))

    @classmethod
    def importer(cls, source: str, author: str = dolt.SYSTEM_AUTHOR) -> Actor:
        """An import run (`import:letta`, `import:youlab_v1`, `import:export`)."""
        return cls(IMPORT, source, author)

    @classmethod
    def system(cls, author: str = dolt.SYSTEM_AUTHOR) -> Actor:
        """The application itself, or an operator's command without a person to name."""
        return cls(SYSTEM, "", author)

    @property
    def history_actor(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind

    @property
    def is_staff(self) -> bool:
        return self.kind == STAFF

    @property
    def proposer(self) -> str:
        """Who a proposal says proposed it (pending_diffs.agent_key_name): an agent key's name,
        or the history actor of anyone else (`staff:<username>`). Idempotency-Keys and the
        open-proposal cap are counted per proposer."""
        return self.name if self.kind == AGENT else self.history_actor

    def __str__(self) -> str:
        return self.history_actor


SYSTEM_ACTOR = Actor.system()
