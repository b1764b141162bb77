"""The learner profile service: one writer, history rows, Dolt commits, search words, imports."""

import pytest

from learners import selectors, services
from learners.exceptions import InvalidProfile
from learners.models import HistoricalLearner, Learner, LearnerNameWord
from youlab import dolt
from youlab.actors import Actor
from youlab.errors import InvalidInput


@pytest.mark.django_db(transaction=True)
def test_setting_a_profile_leaves_a_history_row_and_a_dolt_commit_by_the_actor():
    before = dolt.log_count()
    learner, changed = services.set_learner_profile(
        user_id="maya", display_name=" Maya Thompson ", by=Actor.agent("tutor"),
    )
    assert changed and learner.display_name == "Maya Thompson" and learner.email == ""
    assert learner.updated_by == "agent:tutor"
    row = HistoricalLearner.objects.get(user_id="maya")
    assert (row.display_name, row.updated_by, row.history_type) == ("Maya Thompson", "agent:tutor", "+")
    newest = dolt.log(limit=1)[0]
    assert dolt.log_count() == before + 1
    assert newest.message == "Set display name of learner maya (agent:tutor)"
    assert newest.author == "agent:tutor"

    # The same value again writes nothing; a field left out keeps its value.
    assert services.set_learner_profile(user_id="maya", display_name="Maya Thompson", by=Actor("x"))[1] is False
    learner, changed = services.set_learner_profile(user_id="maya", email="maya@example.org", by=Actor("staff", "rita"))
    assert changed and (learner.display_name, learner.email) == ("Maya Thompson", "maya@example.org")
    assert dolt.log_count() == before + 2
    assert HistoricalLearner.objects.filter(user_id="maya").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("fields", [
    {"display_name": "x" * 256}, {"display_name": "Maya\nThompson"}, {"display_name": 7},
    {"email": "not-an-email"}, {"email": "a@" + "b" * 260 + ".org"},
])
def test_invalid_profiles_are_refused_and_write_nothing(fields):
    with pytest.raises(InvalidProfile):
        services.set_learner_profile(user_id="maya", by=Actor.agent("tutor"), **fields)
    assert not Learner.objects.exists()


@pytest.mark.django_db
def test_learner_ids_are_validated_like_block_owners():
    with pytest.raises(InvalidInput):
        services.set_learner_profile(user_id="a/b", display_name="x", by=Actor.system())


@pytest.mark.django_db
def test_learners_are_found_by_the_start_of_any_word_of_their_name_or_email():
    services.set_learner_profile(user_id="u-maya", display_name="Maya Thompson", by=Actor.system())
    services.set_learner_profile(user_id="u-sofia", display_name="Sofía Ramírez-Núñez",
                                 email="sofia@school.example", by=Actor.system())
    services.set_learner_profile(user_id="u-wang", display_name="王小明 (Xiaoming Wang)", by=Actor.system())
    services.set_learner_profile(user_id="u-mayor", display_name="Jo Mayor", by=Actor.system())

    assert selectors.user_ids_named("maya") == ["u-maya"]
    assert selectors.user_ids_named("MAY") == ["u-maya", "u-mayor"]
    assert selectors.user_ids_named("thomp") == ["u-maya"]
    assert selectors.user_ids_named("may thom") == ["u-maya"]  # every word must match
    assert selectors.user_ids_named("ramirez") == ["u-sofia"]  # accents ignored
    assert selectors.user_ids_named("school") == ["u-sofia"]  # email words too
    assert selectors.user_ids_named("小明") == ["u-wang"]
    assert selectors.user_ids_named("aya") == [] and selectors.user_ids_named("") == []
    assert selectors.labels_for(["u-maya", "u-none", ""]) == {"u-maya": "Maya Thompson"}

    # A renamed learner is found under the new name only.
    services.set_learner_profile(user_id="u-maya", display_name="Maya Tran", by=Actor.system())
    assert selectors.user_ids_named("thompson") == [] and selectors.user_ids_named("tran") == ["u-maya"]
    assert set(LearnerNameWord.objects.filter(user_id="u-maya").values_list("word", flat=True)) == {"maya", "tran"}


@pytest.mark.django_db
def test_imports_fill_empty_fields_but_never_overwrite_a_name():
    services.set_learner_profile(user_id="agent-set", display_name="Named By Agent", by=Actor.agent("tutor"))
    services.set_learner_profile(user_id="half", email="half@example.org", by=Actor.agent("tutor"))
    profiles = [
        services.ImportedProfile("new", "Maya Thompson"),
        services.ImportedProfile("agent-set", "Letta Name", "letta@example.org"),
        services.ImportedProfile("half", "Half Named", "other@example.org"),
        services.ImportedProfile("nothing", "", ""),
        services.ImportedProfile("bad", "bad\x00name", "not-an-email"),
    ]

    planned = services.import_learner_profiles(profiles=profiles, by=Actor.importer("letta"), dry_run=True)
    assert planned == {"new": "display name set", "agent-set": "email set", "half": "display name set"}
    assert not Learner.objects.filter(user_id="new").exists()

    assert services.import_learner_profiles(profiles=profiles, by=Actor.importer("letta")) == planned
    profile = {l.user_id: (l.display_name, l.email, l.updated_by) for l in Learner.objects.all()}
    assert profile == {
        "new": ("Maya Thompson", "", "import:letta"),
        "agent-set": ("Named By Agent", "letta@example.org", "import:letta"),
        "half": ("Half Named", "half@example.org", "import:letta"),
    }
    assert HistoricalLearner.objects.get(user_id="new").history_change_reason == "Imported display name"
    assert selectors.user_ids_named("thompson") == ["new"]
    # A re-run, or another source with other names, changes nothing.
    assert services.import_learner_profiles(profiles=profiles, by=Actor.importer("letta")) == {}
    assert services.import_learner_profiles(
        profiles=[services.ImportedProfile("new", "Maya T. Thompson"), services.ImportedProfile("agent-set", "Other")],
        by=Actor.importer("youlab_v1")) == {}
    assert Learner.objects.get(user_id="agent-set").display_name == "Named By Agent"
