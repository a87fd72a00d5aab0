"""Admin helpers shared by the background jobs' pages (scrape jobs, dataset builds, training runs, model versions)."""
from django.contrib import messages


def resume_one_at_a_time(model_admin, request, interrupted, resume, describe, noun):
    """The "Resume selected" action: resume the first interrupted job (`resume(request, job)` says what happened and
    returns True when it was resumed); the others wait for it, since only one such job runs at a time. When the
    first is refused (saying why), the others would be refused the same way, so nothing more is said."""
    if not interrupted:
        model_admin.message_user(request, f"None of the selected {noun}s is interrupted; only those can be resumed.",
                                 messages.WARNING)
        return
    first, *waiting = interrupted
    if resume(request, first):
        for job in waiting:
            model_admin.message_user(request, f"{describe(job)} not resumed: another job is running ({describe(first)}, "
                                              f"just resumed; one {noun} at a time). Resume it once that one has finished.",
                                     messages.WARNING)


class ReadOnlyPageMixin:
    """A change page with nothing to edit (every field read-only, no editable inlines) offers no "Save", "Save and add
    another" or "Save and continue editing", only "Close". Its form stays, so the page's own buttons (Resume job,
    Cancel build, ...) still post to response_change; Delete and the permissions are as they were."""

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and _nothing_to_edit(context):
            context.update(show_save=False, show_save_and_continue=False, show_save_and_add_another=False)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


def _nothing_to_edit(context):
    inlines = context.get("inline_admin_formsets") or ()
    return not context["adminform"].form.fields and not any(
        inline.has_add_permission or inline.has_change_permission or inline.has_delete_permission for inline in inlines
    )
