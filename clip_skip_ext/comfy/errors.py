"""The one error the nodes raise: ComfyUI shows its message on the node that failed."""


class ClipSkipNodeError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(f"Clip Skip Control: {message}")
