"""Admin helpers shared by the background jobs that can be resumed (dataset builds, training runs)."""
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
