from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from youlab.fields import IDENTIFIER_COLLATION


class Learner(models.Model):
    """The optional profile of a learner id (design.md §3 `learners`).

    A learner exists once they own something; this row only adds what staff need to recognise
    them. `updated_by` is the actor of the last change (`agent:<key name>`, `staff:<username>`,
    `import:letta`, ...): imports fill in names but never overwrite what an agent or a member of
    staff set (learners.services). simple-history copies it, so each history row says who.
    """

    user_id = models.CharField(max_length=255, unique=True, db_collation=IDENTIFIER_COLLATION)
    display_name = models.CharField(max_length=255, blank=True, default="")
    email = models.CharField(max_length=254, blank=True, default="")
    updated_by = models.CharField(max_length=255, default="system")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    history = HistoricalRecords(table_name="learner_history", user_related_name="+")

    class Meta:
        db_table = "learners"
        ordering = ["user_id"]

    def __str__(self):
        return f"{self.label} ({self.user_id})" if self.label else self.user_id

    @property
    def label(self) -> str:
        """What staff see beside the id: the display name, else the email."""
        return self.display_name or self.email


HistoricalLearner = Learner.history.model


class LearnerNameWord(models.Model):
    """One word of a learner's display name or email, folded (learners.names), for search.

    Derived from `learners` by learners.services (its only writer). A binary collation makes
    `word >= 'may' AND word < 'may\\U0010ffff'` one bounded index range on Dolt, where a
    LIKE 'may%' on a case-insensitive column scans from 'may' to the end of the index.
    """

    user_id = models.CharField(max_length=255, db_collation=IDENTIFIER_COLLATION)
    word = models.CharField(max_length=64, db_collation=IDENTIFIER_COLLATION)

    class Meta:
        db_table = "learner_name_words"
        constraints = [
            models.UniqueConstraint(fields=["word", "user_id"], name="learner_name_words_unique"),
        ]
        indexes = [models.Index(fields=["user_id"], name="learner_name_words_user")]

    def __str__(self):
        return f"{self.word} → {self.user_id}"
