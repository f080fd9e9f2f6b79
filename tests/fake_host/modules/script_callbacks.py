"""modules/script_callbacks.py: the registration functions the extension calls (:456-593)."""

callbacks = {"ui_settings": [], "app_started": [], "before_ui": []}


def on_ui_settings(callback, *, name=None):
    callbacks["ui_settings"].append(callback)


def on_app_started(callback, *, name=None):
    callbacks["app_started"].append(callback)


def on_before_ui(callback, *, name=None):
    callbacks["before_ui"].append(callback)
