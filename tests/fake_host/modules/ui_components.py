"""modules/ui_components.py:88: ``InputAccordion``, a hidden gr.Checkbox whose elem_id is
``<elem_id>-checkbox`` and which opens an accordion as a context manager (A1111 82a973c0
ui_components.py:88-140, Forge dfdcbab6 :110-170)."""

import gradio as gr


class InputAccordion(gr.Checkbox):
    def __init__(self, value, **kwargs):
        super().__init__(value, **{**kwargs, "elem_id": f"{kwargs.get('elem_id')}-checkbox"})
        self.accordion_id = kwargs.get("elem_id")
