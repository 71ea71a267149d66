"""How distances are written on pictures and pages."""


def distance_text(distance: float) -> str:
    """Three significant digits, with float noise (an image matching itself) shown as 0."""
    return f"{round(distance, 6):.3g}"
