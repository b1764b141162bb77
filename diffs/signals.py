"""Signals of the review workflow.

`diff_decided` is sent by diffs.services inside the decision's transaction, right after the diff
is marked approved, rejected or conflict (superseded too, once something supersedes diffs):
receivers that write (the callbacks outbox) commit or roll back with the decision itself.
Arguments: `diff` (the PendingDiff, its new status set).
"""

from django.dispatch import Signal

diff_decided = Signal()
