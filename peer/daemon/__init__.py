"""The running peer (``roamsync serve``): :class:`~.node.Node` and its parts.

* :mod:`.node`: the composition root: server, lifecycle, discovery;
* :mod:`.trust`: TLS trust from the registry, who may sync;
* :mod:`.sessions`: the running sessions, and what is known of each peer;
* :mod:`.dialer`: a session kept up to each address, with backoff and jitter;
* :mod:`.supervisor`: background tasks restarted when they fail;
* :mod:`.checkout`: working offline (check-out, check-in);
* :mod:`.join`: enrolment on main; :mod:`.journal`: the sync log and history;
* :mod:`.metrics`: ``/metrics`` for Prometheus.
"""
