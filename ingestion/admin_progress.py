"""How every admin shows live progress (scrape jobs, dataset builds, training runs): a staff-only JSON endpoint the
page polls, cells made by `live_cell`, and the one script that polls (`PROGRESS_JS`, static/ingestion/admin_progress.js).
"""
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.safestring import mark_safe

PROGRESS_JS = "ingestion/admin_progress.js"  # the admin's Media.js


def live_cell(item_id, active, url, html, *, html_key="html", list_key="", reload_on_end=False, tag="span"):
    """A cell admin_progress.js keeps current while `active`: it polls `url` (?ids=...) and puts the HTML under
    `html_key` of the answer's item `item_id` (in the answer's `list_key` list; none: the answer is the item) in it;
    with `reload_on_end` the page reloads once the item has ended."""
    return format_html(
        '<{} data-progress-id="{}" data-active="{}" data-url="{}" data-list="{}" data-html="{}"{}>{}</{}>',
        tag, item_id, "1" if active else "0", url, list_key, html_key,
        mark_safe(' data-reload="1"') if reload_on_end else "", html, tag,
    )


class ProgressEndpointMixin:
    """A staff-only JSON endpoint, admin:<app>_<model>_progress at <changelist>/progress/?ids=1,2,3, that the list
    page's script polls for the rows still in progress; subclasses say what it answers in `progress(ids)`."""

    progress_max_ids = 50  # at most this many ids are read from one request

    def get_urls(self):
        name = f"{self.model._meta.app_label}_{self.model._meta.model_name}_progress"
        return [path("progress/", self.admin_site.admin_view(self.progress_view), name=name), *super().get_urls()]

    def progress_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        ids = [int(value) for value in request.GET.get("ids", "").split(",") if value.strip().isdigit()][: self.progress_max_ids]
        return JsonResponse(self.progress(ids))

    def progress(self, ids):
        raise NotImplementedError
