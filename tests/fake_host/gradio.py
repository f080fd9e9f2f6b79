"""A stand-in for the few gradio names the adapter touches outside the panel (Settings components)."""


class Textbox:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
