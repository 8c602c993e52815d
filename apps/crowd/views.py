"""What participants see: entry → consent → instructions → qualification → annotate → done.

A participant has no account: their session holds, per project, the public id of their
Participant row, which is created only when they consent (until then a signed cookie keeps
the entry URL's ids). Every assignment is looked up through that participant, so a
forged or foreign id answers 404.

Every page a participant sees is ``never_cache`` (``Cache-Control: no-store``): Back then
Forward must ask the server again, not show a form for an item already answered.
"""

from __future__ import annotations

import json
import uuid

from django.core import signing
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.core import engine, plays, registry, selectors
from apps.core.mediaserve import media_response
from apps.core.models import Assignment, Participant, Project
from apps.core.qualification import qualification_due, qualification_of
from apps.core.services import (
    Finish,
    completion_redirect_url,
    participant_enter,
    participant_find,
    participant_finish,
    participant_identity,
    participant_qualify,
    participant_resume,
    screen_out_redirect_url,
)
from apps.core.text import render_markdown

# The entry URL's parameters that name a participant, kept in a signed cookie until consent.
ENTRY_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "workerId", "assignmentId", "hitId")
ENTRY_SALT = "chorus.crowd.entry"
ENTRY_MAX_AGE_S = 24 * 60 * 60


def _session_key(project: Project) -> str:
    return f"chorus:participant:{project.slug}"


def _project(slug: str) -> Project:
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise Http404("There is no study at this address.")
    return project


def _public_id(request: HttpRequest, slug: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(request.session.get(f"chorus:participant:{slug}") or "")
    except ValueError:
        return None


def _participant(request: HttpRequest, slug: str) -> Participant | None:
    """The participant this browser is bound to in project ``slug`` (with its project)."""
    public_id = _public_id(request, slug)
    if public_id is None:
        return None
    return (
        Participant.objects.select_related("project")
        .filter(project__slug=slug, public_id=public_id)
        .first()
    )


def _to_entry(request: HttpRequest, project: Project) -> HttpResponse:
    url = reverse("crowd:entry", args=[project.slug])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _saved_key(project: Project) -> str:
    return f"chorus:saved-while-paused:{project.slug}"


def _paused_page(request: HttpRequest, project: Project) -> HttpResponse:
    """The study is paused: nothing is lost, and the same link continues later.

    Right after a submit (the session says so) the page first says that the answer was kept,
    as the Launch tab promises researchers.
    """
    saved = request.session.pop(_saved_key(project), False)
    heading = "Your answer was saved — the study is paused" if saved else "This study is paused"
    body = (
        "The researchers have paused the study for a while. Nothing you did is lost: open "
        "this page again later (the same link) and you will continue where you left off. "
        "If it stays paused, you can return the study on your platform."
    )
    return render(
        request, "crowd/message.html", {"project": project, "heading": heading, "body": body}
    )


def _closed_page(request: HttpRequest, project: Project) -> HttpResponse:
    if project.status == Project.Status.PAUSED:
        return _paused_page(request, project)
    saved = request.session.pop(_saved_key(project), False)
    return render(
        request,
        "crowd/message.html",
        {
            "project": project,
            "heading": "This study is not open right now",
            "body": ("Your last answer was saved. " if saved else "")
            + "The researchers have not opened it yet, or it has ended. "
            "Please try again later or return it on your platform.",
        },
        status=403,
    )


def _blocked_page(request: HttpRequest, project: Project) -> HttpResponse:
    return render(
        request,
        "crowd/message.html",
        {
            "project": project,
            "heading": "You can no longer take part in this study",
            "body": "Thank you for your time. Your access was closed by the researchers, "
            "usually because of failed quality checks.",
        },
        status=403,
    )


STEPS = ["crowd:consent", "crowd:instructions", "crowd:qualification", "crowd:annotate"]


def _next_step(participant: Participant) -> str:
    if participant.consented_at is None:
        return "crowd:consent"
    if participant.instructions_seen_at is None:
        return "crowd:instructions"
    qualification = qualification_of(
        registry.get(participant.project.task_type), participant.project
    )
    if qualification_due(participant, qualification):
        return "crowd:qualification"
    return "crowd:annotate"


def _to_step(request: HttpRequest, project: Project, step: str) -> HttpResponse:
    """A redirect that also works for an htmx request (which would swap a page in place)."""
    url = reverse(step, args=[project.slug])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _gate(request: HttpRequest, slug: str, *, step: str | None = None):
    """The project and participant, or the response that sends the browser where it belongs."""
    participant = _participant(request, slug)  # one query for participant and project
    if participant is None:
        project = _project(slug)
        if _entry_pending(request, slug) is not None:  # entered, not consented yet
            return project, None, redirect("crowd:consent", slug=project.slug)
        return project, None, _to_entry(request, project)
    return participant.project, participant, _misplaced(request, participant, step)


def _misplaced(
    request: HttpRequest, participant: Participant, step: str | None, *, answering: bool = False
):
    """The response for a participant who may not be at ``step``, or None.

    ``answering``: a submit or skip of an item already held. A pass that expired since the
    item was served does not lose the answer; the next item waits for the re-check.
    """
    project = participant.project
    if participant.status == Participant.Status.BLOCKED:
        return _blocked_page(request, project)
    if participant.status == Participant.Status.SCREENED and step != "crowd:screened_out":
        return _to_step(request, project, "crowd:screened_out")
    if participant.status == Participant.Status.FINISHED and step != "crowd:done":
        return redirect("crowd:done", slug=project.slug)
    if step in STEPS:
        wanted = _next_step(participant)
        if answering and wanted == "crowd:qualification" and participant.qualification_passed:
            return None
        if STEPS.index(wanted) < STEPS.index(step):
            return _to_step(request, project, wanted)
    return None


def _gate_assignment(request: HttpRequest, slug: str, assignment_id: int):
    """``_gate`` for a POST about one assignment, which must be this browser's participant's.

    One query reads the assignment, its item, participant and project (the hot path of the
    annotate loop); a forged or foreign id answers 404.
    """
    public_id = _public_id(request, slug)
    assignment = None
    if public_id is not None:
        assignment = selectors.assignment_of_browser(
            slug=slug, public_id=public_id, assignment_id=assignment_id
        )
    if assignment is None:
        project, participant, response = _gate(request, slug, step="crowd:annotate")
        if response:
            return project, participant, None, response
        raise Http404("No such item.")
    participant = assignment.participant
    response = _misplaced(request, participant, "crowd:annotate", answering=True)
    return participant.project, participant, assignment, response


def _entry_next(request: HttpRequest, participant: Participant) -> HttpResponse:
    """Where a participant found (or just created) at entry or consent goes next."""
    project = participant.project
    if participant.status == Participant.Status.BLOCKED:
        return _blocked_page(request, project)
    if participant.status == Participant.Status.FINISHED:
        return redirect("crowd:done", slug=project.slug)
    return redirect(_next_step(participant), slug=project.slug)


@never_cache
@require_http_methods(["GET"])
def entry(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(slug)
    identified = any(k in request.GET for k in ("PROLIFIC_PID", "workerId"))
    participant = None if identified else _participant(request, slug)
    if participant is None:
        if not project.is_live:
            return _closed_page(request, project)
        if request.GET.get("assignmentId") == "ASSIGNMENT_ID_NOT_AVAILABLE":
            return render(
                request,
                "crowd/message.html",
                {
                    "project": project,
                    "heading": "Preview",
                    "body": "Accept the HIT to start. Your answers are saved as you go, and "
                    "you get a completion code at the end.",
                },
            )
        participant = participant_find(project=project, params=request.GET)
        if participant is None and not identified and _entry_pending(request, slug) is not None:
            return redirect("crowd:consent", slug=project.slug)  # keep the pending identity
        if participant is None and selectors.project_is_full(project=project):
            return _full_on_entry(request, project)
        if participant is None:
            # Nobody is created (and nothing written) until they consent: a crawler, a link
            # preview or a script sending GETs adds no rows. The identity waits in a signed
            # cookie for the consent form.
            response = redirect("crowd:consent", slug=project.slug)
            _entry_remember(request, response, project)
            return response
        request.session[_session_key(project)] = str(participant.public_id)
    if participant.status == Participant.Status.BLOCKED:
        return _blocked_page(request, project)
    if participant.status == Participant.Status.SCREENED:
        return redirect("crowd:screened_out", slug=project.slug)
    if participant.status == Participant.Status.FINISHED:
        return redirect("crowd:done", slug=project.slug)
    return redirect(_next_step(participant), slug=project.slug)


def _entry_cookie(slug: str) -> str:
    return f"chorus_entry_{slug}"


def _entry_remember(request: HttpRequest, response: HttpResponse, project: Project) -> None:
    """Keep the entry URL's identity (Prolific or MTurk ids, or none) until consent."""
    params = {k: v for k, v in request.GET.items() if k in ENTRY_PARAMS}
    response.set_signed_cookie(
        _entry_cookie(project.slug),
        json.dumps(params),
        salt=ENTRY_SALT,
        max_age=ENTRY_MAX_AGE_S,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )


def _entry_pending(request: HttpRequest, slug: str) -> dict | None:
    """The identity remembered by ``entry`` for this browser, or None."""
    try:
        raw = request.get_signed_cookie(
            _entry_cookie(slug), salt=ENTRY_SALT, max_age=ENTRY_MAX_AGE_S
        )
        params = json.loads(raw)
    except (KeyError, signing.BadSignature, ValueError):
        return None
    return params if isinstance(params, dict) else None


@never_cache
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    if (
        _participant(request, slug) is None
        and (pending := _entry_pending(request, slug)) is not None
    ):
        project = _project(slug)
        if not project.is_live:
            return _closed_page(request, project)
        if request.method == "POST" and request.POST.get("agree") == "yes":
            participant = participant_enter(project=project, params=pending)
            request.session[_session_key(project)] = str(participant.public_id)
            if participant.consented_at is None:
                participant.consent()
            response = _entry_next(request, participant)
            response.delete_cookie(_entry_cookie(slug))
            return response
        participant = None
    else:
        project, participant, response = _gate(request, slug, step="crowd:consent")
        if response:
            return response
    if request.method == "POST":
        if request.POST.get("agree") == "yes":
            if participant.consented_at is None:
                participant.consent()
            return redirect(_next_step(participant), slug=project.slug)
        return render(
            request,
            "crowd/message.html",
            {
                "project": project,
                "heading": "You did not consent",
                "body": "Nothing was recorded. You can close this page and return the study "
                "on your platform.",
            },
        )
    return render(
        request,
        "crowd/consent.html",
        {
            "project": project,
            "consent_html": render_markdown(project.consent_text),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def instructions(request: HttpRequest, slug: str) -> HttpResponse:
    project, participant, response = _gate(request, slug, step="crowd:instructions")
    if response:
        return response
    if request.method == "POST":
        if participant.instructions_seen_at is None:
            participant.mark_instructions_seen()
        return redirect(_next_step(participant), slug=project.slug)
    task_type = registry.get(project.task_type)
    return render(
        request,
        "crowd/instructions.html",
        {
            "project": project,
            "task_type": task_type,
            "instructions_html": render_markdown(project.instructions),
        },
    )


def _card_context(
    project: Project,
    participant: Participant,
    assignment: Assignment | None,
    *,
    errors=None,
    value=None,
    notice: str = "",
    done: int | None = None,
) -> dict:
    task_type = registry.get(project.task_type)
    progress = selectors.participant_progress(participant=participant, done=done)
    context = {
        "project": project,
        "participant": participant,
        "assignment": assignment,
        "task_type": task_type,
        "progress": progress,
        "client_token": uuid.uuid4().hex,
        "errors": errors or [],
        "value": value if value is not None else (assignment.prefill if assignment else None),
        "notice": notice,
    }
    if assignment is not None:
        context["item"] = assignment.item
        context["form_template"] = task_type.form_template_for(assignment.item)
        context.update(task_type.item_context(assignment.item, participant))
    return context


def _render_card(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    template = "crowd/annotate.html#item-card" if request.htmx else "crowd/annotate.html"
    return render(request, template, context, status=status)


# How to give a study back without a completion code, per platform.
RETURN_HOW = {
    Participant.Source.PROLIFIC: "On Prolific, please return the study (“Return submission”) "
    "instead of submitting it: there is no completion code, and returning it costs you nothing.",
    Participant.Source.MTURK: "On MTurk, please return the HIT: there is no completion code.",
    Participant.Source.LINK: "You can close this page.",
}


def _full_message(request: HttpRequest, project: Project, source: str, body: str):
    return render(
        request,
        "crowd/message.html",
        {
            "project": project,
            "heading": "This study is full — please return it",
            "body": f"{body} {RETURN_HOW.get(source, RETURN_HOW[Participant.Source.LINK])}",
        },
    )


def _full_page(request: HttpRequest, project: Project, participant: Participant) -> HttpResponse:
    """Nothing is left and this participant answered nothing: no completion code."""
    skipped = participant.assignments.filter(status=Assignment.Status.SKIPPED).exists()
    if skipped:
        body = (
            "There are no more items for you, and you skipped every item you were shown, so "
            "there is no completion code."
        )
    else:
        body = (
            "Every item already has all the answers it needs, so there is nothing for you to "
            "do. Thank you for coming."
        )
    return _full_message(request, project, participant.source, body)


def _full_on_entry(request: HttpRequest, project: Project) -> HttpResponse:
    """A newcomer to a full study hears it before consent and instructions, not after."""
    identity = participant_identity(request.GET)
    source = identity[0] if identity else Participant.Source.LINK
    body = (
        "Every item already has all the answers it needs, so there is nothing to do in this "
        "study any more. Thank you for coming."
    )
    return _full_message(request, project, source, body)


def _to_done(request: HttpRequest, project: Project) -> HttpResponse:
    url = reverse("crowd:done", args=[project.slug])
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _serve_next(
    request: HttpRequest, project: Project, participant: Participant, notice: str = ""
) -> HttpResponse:
    if _next_step(participant) == "crowd:qualification":  # a pass expired: check again first
        return _to_step(request, project, "crowd:qualification")
    outcome = engine.next_item(participant=participant)
    if outcome.status == engine.NextStatus.NOT_LIVE:
        return _closed_page(request, project)
    if outcome.assigned:
        context = _card_context(
            project, participant, outcome.assignment, notice=notice, done=outcome.done
        )
        return _render_card(request, context)
    finished = participant_finish(participant=participant, outcome=outcome)
    if finished == Finish.FINISHED:
        return _to_done(request, project)
    if finished == Finish.BLOCKED:  # e.g. by the gold rule, on the answer just submitted
        return _blocked_page(request, project)
    return _full_page(request, project, participant)


@never_cache
@require_http_methods(["GET", "POST"])
def qualification(request: HttpRequest, slug: str) -> HttpResponse:
    project, participant, response = _gate(request, slug, step="crowd:qualification")
    if response:
        return response
    check = qualification_of(registry.get(project.task_type), project)
    if check is None or not qualification_due(participant, check):
        return redirect(_next_step(participant), slug=project.slug)
    if request.method == "POST":
        # One value per field, a list where a field was sent several times (checkboxes).
        data = {
            k: values[0] if len(values) == 1 else values
            for k, values in request.POST.lists()
            if k != "csrfmiddlewaretoken"
        }
        if participant_qualify(participant=participant, qualification=check, data=data):
            return redirect("crowd:annotate", slug=project.slug)
        return redirect("crowd:screened_out", slug=project.slug)
    context = {
        "project": project,
        "participant": participant,
        "qualification": check,
        "recheck": participant.qualification_passed is True,
    }
    if check.context is not None:
        context.update(check.context(participant))
    return render(request, "crowd/qualification.html", context)


@never_cache
@require_http_methods(["GET"])
def screened_out(request: HttpRequest, slug: str) -> HttpResponse:
    project, participant, response = _gate(request, slug, step="crowd:screened_out")
    if response:
        return response
    if participant.status != Participant.Status.SCREENED:
        return redirect(_next_step(participant), slug=project.slug)
    return render(
        request,
        "crowd/screened_out.html",
        {
            "project": project,
            "code": project.screen_out_code,
            "redirect_url": screen_out_redirect_url(participant),
        },
    )


@never_cache
@require_http_methods(["GET"])
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    project, participant, response = _gate(request, slug, step="crowd:annotate")
    if response:
        return response
    return _serve_next(request, project, participant)


def _valid(task_type, assignment: Assignment, value) -> bool:
    """Whether ``value`` is a well-formed answer (an ill-formed one gets its field errors
    first, from the engine, before anything about unheard clips)."""
    try:
        task_type.validate(assignment.item, value)
    except ValidationError:
        return False
    return True


@never_cache
@require_POST
def annotation_submit(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project, participant, assignment, response = _gate_assignment(request, slug, assignment_id)
    if response:
        return response
    task_type = registry.get(project.task_type)
    value = task_type.value_from_form(assignment.item, request.POST)
    unheard = plays.plays_missing(assignment=assignment, keys=task_type.must_play(assignment.item))
    if (
        unheard
        and assignment.status != Assignment.Status.SUBMITTED
        and _valid(task_type, assignment, value)
    ):
        message = task_type.unplayed_message(assignment.item, unheard)
        context = _card_context(project, participant, assignment, errors=[message], value=value)
        return _render_card(request, context, status=409)
    try:
        engine.annotation_submit(
            assignment=assignment,
            value=value,
            client_token=request.POST.get("client_token", ""),
        )
    except ValidationError as exc:
        # The annotator reads the messages without field paths; each is about this form.
        messages = [m for ms in registry.field_errors(exc).values() for m in ms]
        context = _card_context(project, participant, assignment, errors=messages, value=value)
        return _render_card(request, context)
    except engine.SubmitRefused as exc:
        return _serve_next(request, project, participant, notice=exc.message)
    if not project.is_live:
        # Saved, but no next item while paused or closed: say so on the page that follows.
        request.session[_saved_key(project)] = True
        return _to_step(request, project, "crowd:annotate")
    if not request.htmx:
        return redirect("crowd:annotate", slug=project.slug)
    return _serve_next(request, project, participant)


@never_cache
@require_POST
def assignment_skip(request: HttpRequest, slug: str, assignment_id: int) -> HttpResponse:
    project, participant, assignment, response = _gate_assignment(request, slug, assignment_id)
    if response:
        return response
    if not registry.get(project.task_type).allow_skip:
        raise Http404("Items of this study cannot be skipped.")
    engine.assignment_skip(assignment=assignment)
    if not request.htmx:
        return redirect("crowd:annotate", slug=project.slug)
    return _serve_next(request, project, participant)


@never_cache
@require_http_methods(["GET"])
def done(request: HttpRequest, slug: str) -> HttpResponse:
    """Only reads: the code is shown to a participant ``participant_finish`` marked finished.

    Anyone else goes to the annotate page, which serves their next item or finishes them.
    """
    project, participant, response = _gate(request, slug, step="crowd:done")
    if response:
        return response
    if participant.status != Participant.Status.FINISHED:
        return redirect("crowd:annotate", slug=project.slug)
    return render(
        request,
        "crowd/done.html",
        {
            "project": project,
            "participant": participant,
            "code": project.completion_code,
            "redirect_url": completion_redirect_url(participant),
            "progress": selectors.participant_progress(participant=participant),
            "more_work": engine.work_waiting(participant=participant),
        },
    )


@require_POST
def resume(request: HttpRequest, slug: str) -> HttpResponse:
    """A finished participant continues with items that appeared since (a later stage)."""
    project, participant, response = _gate(request, slug, step="crowd:done")
    if response:
        return response
    participant_resume(participant=participant)
    return redirect("crowd:annotate", slug=project.slug)


@require_http_methods(["GET", "HEAD"])
def assignment_media(request: HttpRequest, slug: str, assignment_id: int, key: str) -> HttpResponse:
    """Media ``key`` of an item this browser's participant holds; 404 for anything else,
    the same answer as for a file that does not exist."""
    public_id = _public_id(request, slug)
    media = None
    if public_id is not None:
        media = selectors.item_media_for_participant(
            slug=slug, public_id=public_id, assignment_id=assignment_id, key=key
        )
    if media is None:
        raise Http404("No such file.")
    return media_response(request, media)


@require_POST
def media_played(request: HttpRequest, slug: str, assignment_id: int, key: str) -> HttpResponse:
    """The player's report that media ``key`` started (``event=started``) or ended playing.

    204 when recorded; 404 for a forged id or a file the item does not have (the same answer
    as the media view's), 400 for an unknown event.
    """
    project, participant, assignment, response = _gate_assignment(request, slug, assignment_id)
    if response:
        return response
    event = request.POST.get("event", "")
    if event not in ("started", "ended"):
        return HttpResponse("event must be started or ended", status=400)
    record = plays.play_started if event == "started" else plays.play_ended
    if not record(assignment=assignment, key=key):
        raise Http404("No such file.")
    return HttpResponse(status=204)
