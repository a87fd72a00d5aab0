from django import forms

from ingestion.labels import LABEL_CHOICES

from .selectors import REVIEW_STATES


class UploadForm(forms.Form):
    image = forms.FileField(
        label="Pet photo",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )


class HistoryFilterForm(forms.Form):
    label = forms.ChoiceField(required=False, choices=[("", "All classes"), *LABEL_CHOICES])
    reviewed = forms.ChoiceField(required=False, choices=[("", "Reviewed or not"), *REVIEW_STATES])
