"""modules/ui_components.py:88: ``InputAccordion``, imported by the panel module; the tier-2 tests call
the panel's status line, never build the panel."""


class InputAccordion:
    def __init__(self, value, **kwargs):
        self.value, self.kwargs = value, kwargs
