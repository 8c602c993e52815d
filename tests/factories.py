from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from apps.core.models import Item, Membership, Participant, Project


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-chorus-123")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"project-{n}")
    title = factory.Sequence(lambda n: f"Project {n}")
    task_type = "test-choice"
    owner = factory.SubFactory(UserFactory)
    status = Project.Status.LIVE
    overlap = 3

    @factory.post_generation
    def owner_membership(self, create, extracted, **kwargs):
        if create:
            Membership.objects.get_or_create(
                project=self, user=self.owner, defaults={"role": Membership.Role.OWNER}
            )


class ItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Item

    project = factory.SubFactory(ProjectFactory)
    external_id = factory.Sequence(lambda n: f"item-{n}")
    payload = factory.LazyAttribute(lambda o: {"text": f"Question {o.external_id}"})


class ParticipantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Participant

    project = factory.SubFactory(ProjectFactory)
    source = Participant.Source.PROLIFIC
    external_id = factory.Sequence(lambda n: f"worker{n}")
