from django import forms

from ingestion.images import UPLOAD_ACCEPT
from ingestion.labels import LABEL_CHOICES

from .selectors import REVIEW_STATES

# The history page's words for the review states (the same values as REVIEW_STATES: "yes" / "no"), read after the
# filter's label: "Checked by our team: Any / Checked / Not checked yet".
HISTORY_REVIEW_STATES = [(value, {"yes": "Checked", "no": "Not checked yet"}[value]) for value, _ in REVIEW_STATES]


class UploadForm(forms.Form):
    # The file picker offers the accepted types and, for systems that give HEIC files no (or another) type, suffixes.
    image = forms.FileField(label="Pet photo", widget=forms.ClearableFileInput(attrs={"accept": UPLOAD_ACCEPT}))


class HistoryFilterForm(forms.Form):
    # `label` filters on the answer a person sees: the reviewed label when there is one, else the predicted one.
    label = forms.ChoiceField(
        label="Answer", required=False, choices=[("", "All answers"), *LABEL_CHOICES],
        error_messages={"invalid_choice": "There is no answer “%(value)s”; showing every answer instead."},
    )
    reviewed = forms.ChoiceField(
        # Worded for visitors ("Checked by our team"), not the admin's "Reviewed" / "Not reviewed".
        label="Checked by our team", required=False, choices=[("", "Any"), *HISTORY_REVIEW_STATES],
        error_messages={"invalid_choice": "“%(value)s” is not a review state (use yes or no); showing all instead."},
    )
