"""The web pages a peer serves (``roamsync serve DIR --web``): :mod:`.app` (pages and
their guard), :mod:`.sessions` (server-side sessions), ``templates/`` (Jinja2)."""
