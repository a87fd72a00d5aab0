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
