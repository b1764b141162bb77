"""youlab.actors: one Actor says who did something, for history rows, Dolt commits and proposals."""

import pytest

from youlab.actors import Actor
from youlab.dolt import SYSTEM_AUTHOR


@pytest.mark.django_db
def test_a_member_of_staff_is_their_username_their_name_as_author_and_their_user(staff_user):
    rita = Actor.staff(staff_user)
    assert (rita.history_actor, str(rita), rita.author, rita.user) == (
        "staff:rita", "staff:rita", "Rita Reviewer <rita@example.org>", staff_user)
    assert rita.is_staff and rita.proposer == "staff:rita"


def test_an_agent_is_its_key_name_with_no_django_user():
    tutor = Actor.agent("tutor")
    assert (tutor.history_actor, tutor.author, tutor.user, tutor.proposer) == (
        "agent:tutor", "agent:tutor <agent@youlab.local>", None, "tutor")
    assert not tutor.is_staff


def test_imports_and_the_system():
    assert Actor.importer("letta").history_actor == "import:letta"
    assert (Actor.system().history_actor, Actor.system().author) == ("system", SYSTEM_AUTHOR)
    assert Actor.system("Ops <ops@example.org>").author == "Ops <ops@example.org>"
