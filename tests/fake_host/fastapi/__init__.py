"""fastapi.HTTPException, which is starlette's (starlette 0.26 exceptions.py:6-24, the version A1111
1.10.1 and Forge ship): ``status_code``, ``detail`` and ``headers`` as instance attributes. A1111,
Forge and Neo's ``handle_exception`` (modules/api/api.py:167-181) print no traceback for it."""

import http


class HTTPException(Exception):
    def __init__(self, status_code, detail=None, headers=None):
        if detail is None:
            detail = http.HTTPStatus(status_code).phrase
        self.status_code = status_code
        self.detail = detail
        self.headers = headers

    def __str__(self):
        return f"{self.status_code}: {self.detail}"
