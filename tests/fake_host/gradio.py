"""A stand-in for the gradio API the adapter uses: the Settings textbox and the panel's blocks.

It mirrors what Gradio 3.41 (A1111) and 4.40 (Forge) share: layout blocks are context managers;
components take ``value`` (a callable is computed at every page load), ``elem_id``, ``label``;
``change``/``click`` register ``fn`` with ``inputs`` and ``outputs`` and return a dependency whose
``then`` chains the next call (gradio 3.41 ``gradio/events.py`` ``EventListener``, 4.40
``gradio/events.py`` ``EventListener`` and ``Dependency.then``). Every registration is kept in
``EVENTS`` so that tests can fire them as the browser would.
"""

EVENTS: list[tuple[object, str, object, list, list]] = []


class Dependency:
    def then(self, fn=None, inputs=None, outputs=None, **kwargs):
        EVENTS.append((self, "then", fn, list(inputs or []), list(outputs or [])))
        return Dependency()


class Block:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.value = kwargs.get("value", args[0] if args else None)
        self.elem_id = kwargs.get("elem_id")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _listen(self, event, fn=None, inputs=None, outputs=None, **kwargs):
        EVENTS.append((self, event, fn, list(inputs or []), list(outputs or [])))
        return Dependency()

    def change(self, fn=None, inputs=None, outputs=None, **kwargs):
        return self._listen("change", fn, inputs, outputs, **kwargs)

    def click(self, fn=None, inputs=None, outputs=None, **kwargs):
        return self._listen("click", fn, inputs, outputs, **kwargs)


class Textbox(Block):
    pass


class Row(Block):
    pass


class Radio(Block):
    pass


class HTML(Block):
    pass


class Button(Block):
    pass


class Slider(Block):
    pass


class Checkbox(Block):
    pass


class Gallery(Block):
    pass
