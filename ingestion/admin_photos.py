"""How every admin shows a stored photo or picture: a cropped square in change lists, a bounded preview on pages.

Here, in the lowest app, so that the classifier's and training's admins can use it too (imports flow downward).
"""
from django.contrib import admin
from django.utils.html import format_html


def photo_thumbnail(file):
    """A 56 px square, cropped to fill, of a stored image file; "-" when there is none."""
    if not file:
        return "-"
    return format_html('<img src="{}" alt="" style="height:56px;width:56px;object-fit:cover;border-radius:4px">', file.url)


def photo_preview(file, max_width="100%", max_height="320px"):
    """A stored image file at its own size within `max_width` x `max_height` (None: unbounded); "-" when there is none."""
    if not file:
        return "-"
    bounds = [f"max-height:{max_height}" if max_height else "", f"max-width:{max_width}" if max_width else ""]
    return format_html('<img src="{}" alt="" style="{}">', file.url, ";".join(bound for bound in bounds if bound))


class PhotoColumnsMixin:
    """A ModelAdmin's "Photo" columns: `thumbnail_tag` for change lists, `image_tag` for the change page."""

    thumbnail_field = "file"  # the stored file shown cropped in lists
    photo_field = "file"  # the stored file shown on the page

    @admin.display(description="Photo")
    def thumbnail_tag(self, obj):
        return photo_thumbnail(getattr(obj, self.thumbnail_field))

    @admin.display(description="Photo")
    def image_tag(self, obj):
        return photo_preview(getattr(obj, self.photo_field))
