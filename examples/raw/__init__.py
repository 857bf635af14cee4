"""ASGI applications written by hand, with no framework: what every framework turns into.

Each module is one app (``app``) to read, copy and run: ``aaf run examples.raw.hello:app``.
``mounted`` serves them all from one aaf app, each under its own prefix.
"""
