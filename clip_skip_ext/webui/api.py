"""Routes under ``/clip-skip-control/v1`` (registered from ``on_app_started``)."""

from __future__ import annotations

from typing import Any

from clip_skip_ext import conventions, params
from clip_skip_ext.plan import status
from clip_skip_ext.policy import PolicyError
from clip_skip_ext.webui import auto, checkpoint, host

PREFIX = "/clip-skip-control/v1"


def schema() -> dict[str, Any]:
    return params.schema()


def describe(value: str = "") -> dict[str, Any]:
    """What a value or schedule does on the loaded model, or why it is invalid."""
    family, host_name = host.current_family(), host.host_name()
    try:
        settings = params.from_fields({"enabled": True, "positive": value})
    except params.ParamError as error:
        return {"valid": False, "error": str(error)}
    try:
        text = status(settings, family, host_name, host.host_clip_skip(family))
    except conventions.ConventionError as error:
        return {"valid": False, "error": str(error)}
    found = {
        "valid": True,
        "value": settings.positive,
        "family": family,
        "host": host_name,
        "host_name": conventions.HOST_NAMES.get(host_name, host_name),
        "status": text,
    }
    note = host.minimal_note(family)
    return {**found, "warning": note} if note else found


def explain(prompt: str = "", family: str = "") -> dict[str, Any]:
    """Auto mode's decision for a prompt on the loaded model (or ``family``), with its reasons."""
    family = family or host.current_family() or ""
    try:
        return auto.explain(prompt, family, host.host_name())
    except (conventions.ConventionError, PolicyError) as error:
        return {"error": str(error)}


def checkpoint_default(name: str = "") -> Any:
    """A checkpoint's (or the loaded one's) default: value, source, convention, candidates."""
    found = checkpoint.route(name)
    if "error" in found:
        from fastapi.responses import JSONResponse

        return JSONResponse(found, status_code=found.get("status_code", 404))
    return found


def save_default(body: dict[str, Any]) -> dict[str, str]:
    """POST {"value": "2"}: save a user default for the loaded checkpoint (as the panel's button)."""
    return {"message": checkpoint.save(str(body.get("value", "")))}


def forget_default() -> dict[str, str]:
    """DELETE: forget the user default of the loaded checkpoint."""
    return {"message": checkpoint.forget()}


def add_routes(demo: Any, app: Any) -> None:
    app.add_api_route(f"{PREFIX}/schema", schema, methods=["GET"])
    app.add_api_route(f"{PREFIX}/describe", describe, methods=["GET"])
    app.add_api_route(f"{PREFIX}/explain", explain, methods=["GET"])
    app.add_api_route(f"{PREFIX}/checkpoint", checkpoint_default, methods=["GET"])
    app.add_api_route(f"{PREFIX}/checkpoint", save_default, methods=["POST"])
    app.add_api_route(f"{PREFIX}/checkpoint", forget_default, methods=["DELETE"])
