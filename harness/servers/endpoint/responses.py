"""The response of a scored request, built without json.dumps where that is safe."""

from __future__ import annotations

from aiohttp import web

__all__ = ["predictions_response"]


def predictions_response(predictions: list[float]) -> web.Response:
    """What `web.json_response({"predictions": predictions})` sends, in a fraction of its time.

    On a body this small, json.dumps spends most of its time in generic dispatch. For finite
    floats a list's repr is already its JSON text; a repr with an "n" in it holds nan or inf,
    whose spelling is left to json as before.
    """
    text = repr(predictions)
    if "n" in text:
        return web.json_response({"predictions": predictions})
    body = b'{"predictions": ' + text.encode() + b"}"
    return web.Response(body=body, content_type="application/json", charset="utf-8")
