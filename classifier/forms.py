from django import forms

from ingestion.labels import CLASSES, display_name


class UploadForm(forms.Form):
    image = forms.FileField(
        label="Pet photo",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )


class HistoryFilterForm(forms.Form):
    label = forms.ChoiceField(
        required=False,
        choices=[("", "All classes"), *[(c, display_name(c)) for c in CLASSES], ("unknown", "Not a pet")],
    )
    reviewed = forms.ChoiceField(required=False, choices=[("", "Reviewed or not"), ("yes", "Reviewed"), ("no", "Not reviewed")])
