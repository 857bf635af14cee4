"""Middleware: plain ASGI classes, listed in ``aaf(..., middleware=[Middleware(cls, **opts)])``."""
