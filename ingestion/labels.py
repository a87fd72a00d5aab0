"""The six pet classes, in the order every model's output uses."""

CLASSES = ("bird", "cat", "dog", "dragon", "fish", "hamster")
UNKNOWN = "unknown"

DISPLAY_NAMES = {
    "bird": "Bird",
    "cat": "Cat",
    "dog": "Dog",
    "dragon": "Bearded dragon",
    "fish": "Fish",
    "hamster": "Hamster",
    UNKNOWN: "Not a pet",
}


def display_name(label):
    return DISPLAY_NAMES.get(label, label or "")


# Choice lists for model and form fields: a pet class, or (for predictions) also "unknown", not a pet.
CLASS_CHOICES = [(label, display_name(label)) for label in CLASSES]
LABEL_CHOICES = [*CLASS_CHOICES, (UNKNOWN, display_name(UNKNOWN))]
# The staff pages' keys: 1-6 pick a class in this order (the review queue and curation share them).
CLASS_KEYS = [(str(number), label, display_name(label)) for number, label in enumerate(CLASSES, start=1)]
