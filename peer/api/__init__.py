"""The daemon's local HTTP API: :mod:`.routes` (the table), :mod:`.server`, :mod:`.client`."""
