"""Moving records between peers: the wire codec and the channels that carry it."""
