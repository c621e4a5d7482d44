"""Python client for the Esper control-plane API (see openapi/esper.yaml)."""
from .client import EsperClient, EsperAPIError, FieldError

__all__ = ["EsperClient", "EsperAPIError", "FieldError"]
