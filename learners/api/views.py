"""`users/{user_id}/profile/`: a learner's display name and email. Thin: learners.services
validates and writes (a history row and a Dolt commit per change)."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from learners import selectors, services
from youlab.api import openapi
from youlab.api.auth import request_actor
from youlab.api.permissions import agents_and_staff
from youlab.api.views import ApiViewMixin, put_response
from youlab.models import Scope
from youlab.unset import UNSET
from youlab.validators import validate_owner_id

from .serializers import ProfilePutSerializer, ProfileSerializer

PROFILE_EXAMPLE = {
    "user_id": "maya", "display_name": "Maya Thompson", "email": "maya@example.org",
    "updated_by": "agent:tutor", "updated_at": "2026-01-12T15:30:00Z",
}


def _represent(user_id, learner) -> dict:
    if learner is None:  # no profile yet: it reads as an empty one
        return {"user_id": user_id, "display_name": "", "email": "", "updated_by": None, "updated_at": None}
    return ProfileSerializer(learner).data


class ProfileView(ApiViewMixin, APIView):
    access = {
        "GET": agents_and_staff(Scope.MEMORY_READ, "learners.view_learner"),
        "PUT": agents_and_staff(Scope.MEMORY_PROPOSE, "learners.change_learner"),
    }

    @extend_schema(
        tags=["learners"],
        summary="The learner's profile (display name, email)",
        description="A learner without a profile answers 200 with empty fields and `updated_at: null`.",
        parameters=[openapi.USER_ID],
        responses={200: ProfileSerializer, **openapi.error_responses(400)},
        examples=[OpenApiExample("Profile", value=PROFILE_EXAMPLE, response_only=True)],
    )
    def get(self, request, user_id):
        validate_owner_id(user_id, lookup=True)
        return Response(_represent(user_id, selectors.get_profile(user_id)))

    @extend_schema(
        tags=["learners"],
        summary="Set the learner's display name and/or email",
        description="A field left out keeps its value; `\"\"` or null clears it. 201 when the learner "
        "had no profile, 200 otherwise (unchanged values write nothing). Each change leaves a "
        "learner_history row and a Dolt commit; imports never overwrite what an agent set.",
        request=ProfilePutSerializer,
        parameters=[openapi.USER_ID],
        responses={200: ProfileSerializer, 201: ProfileSerializer, **openapi.error_responses(400, 409, 413, 415)},
        examples=[
            OpenApiExample("Set the name", value={"display_name": "Maya Thompson"}, request_only=True),
            OpenApiExample("Profile", value=PROFILE_EXAMPLE, response_only=True),
        ],
    )
    def put(self, request, user_id):
        validate_owner_id(user_id)
        body = ProfilePutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        existed = selectors.get_profile(user_id) is not None
        learner, _ = services.set_learner_profile(
            user_id=user_id,
            display_name=body.validated_data.get("display_name", UNSET),
            email=body.validated_data.get("email", UNSET),
            by=request_actor(request),
        )
        created = not existed and learner.pk is not None
        return put_response(_represent(user_id, learner if learner.pk is not None else None), created=created)
