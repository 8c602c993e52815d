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


def wav_bytes(seconds: float = 1.0, rate: int = 8000, hz: float = 440.0) -> bytes:
    """A real mono 16-bit PCM WAV file holding a sine tone."""
    import io
    import math
    import struct
    import wave

    frames = int(seconds * rate)
    samples = (int(12000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(struct.pack(f"<{frames}h", *samples))
    return buffer.getvalue()


def attach_media(item: Item, key: str, data: bytes, name: str = "clip.wav"):
    """Store ``data`` as ``item``'s media ``key`` the way the zip import does."""
    from django.core.files.base import ContentFile

    from apps.core.media import SNIFF_BYTES, media_type
    from apps.core.models import ItemMedia

    media = ItemMedia(
        item=item, key=key, content_type=media_type(name, data[:SNIFF_BYTES]), size=len(data)
    )
    media.file.save(name, ContentFile(data), save=True)
    return media
