"""Errors that become JSON error responses in the shape MLflow and Databricks serving use."""

from __future__ import annotations

from collections.abc import Mapping

from harness.errors import ChaosError

__all__ = ["ApiError"]

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "REQUEST_LIMIT_EXCEEDED",
    502: "UPSTREAM_ERROR",
    503: "TEMPORARILY_UNAVAILABLE",
    504: "UPSTREAM_ERROR",
}


class ApiError(ChaosError):
    """A request the endpoint answers with an error status instead of predictions."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        error_code: str | None = None,
    ) -> None:
        self.status = status
        self.error_code = error_code or _CODES.get(status, "INTERNAL_ERROR")
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(f"{status} {self.error_code}: {message}")

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}
