"""A participant plays an item's audio in a real browser and seeks in it (range requests)."""

from __future__ import annotations

import pytest

from apps.core.models import Annotation
from tests.e2e.browser import browser_page
from tests.factories import ItemFactory, attach_media, wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_participant_plays_an_audio_item_and_seeks_in_it(
    live_server, project, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    item = ItemFactory(project=project, external_id="u1", payload={"text": "Is it natural?"})
    attach_media(item, "main", wav_bytes(4.0, rate=16000), "u1_vits.wav")

    with browser_page() as page:
        media_responses: list[tuple[int, str | None]] = []
        page.on(
            "response",
            lambda r: (
                "/media/" in r.url
                and media_responses.append((r.status, r.headers.get("content-range")))
            ),
        )
        page.goto(f"{live_server.url}/p/{project.slug}/?PROLIFIC_PID=pp-7&STUDY_ID=s&SESSION_ID=x")
        page.get_by_role("button", name="I agree, continue").click()
        page.get_by_role("button", name="Start").click()
        audio = page.locator("audio[data-media-key=main]")
        audio.wait_for()
        # Muted playback needs no user gesture under Chromium's autoplay policy.
        page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        duration = audio.evaluate("a => a.duration")
        assert 3.9 < duration < 4.1
        audio.evaluate("a => { a.muted = true; return a.play(); }")
        page.wait_for_function("() => document.querySelector('audio').currentTime > 0.1")
        audio.evaluate(
            """a => new Promise(resolve => {
                a.addEventListener('seeked', resolve, {once: true});
                a.currentTime = 3.0;
            })"""
        )
        page.wait_for_function("() => document.querySelector('audio').currentTime >= 3.0")
        assert audio.evaluate("a => a.error") is None
        page.keyboard.press("1")
        page.wait_for_url(f"**/p/{project.slug}/done/")

    assert Annotation.objects.get().value == {"choice": "a"}
    assert media_responses and all(status == 206 for status, _ in media_responses)
    assert all(r.startswith("bytes ") for _, r in media_responses)
