"""The full demo: tasks API + chat + live feed + the web page, in one app (``app.py``)."""
