"""The worker process of :class:`~roamsync.peer.replica.preparer.Preparer`: it reads
batches of records that arrive new, beside the process that stores them.

    python -m roamsync.peer.replica.worker

On stdin, requests: a 4-byte length and a pickle of ``(items, origin, keys)``; on
stdout, for each, the answer in the same form: ``arrive_all_plain(items, origin, keys)``
(``keys``: the registry's keys, to check signed writes beside the replica, or ``None``)
and the digests of the slot signatures it verified (main seals them).
It ends at the end of its input, when its parent closes the pipe or dies. Only
its parent talks to it (pickle is safe between the two: both are roamsync).
"""

from __future__ import annotations

import pickle
import sys

from roamsync.peer.replica.arrival import arrive_all_plain
from roamsync.peer.replica.preparer import read_frame


def main() -> None:
    """The worker process: answer requests until the end of the input."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        while (request := read_frame(stdin)) is not None:
            items, origin, keys = pickle.loads(request)
            answer = arrive_all_plain(items, origin, keys)
            verified = b"".join(keys.verified) if keys is not None else b""
            out = pickle.dumps((answer, verified), protocol=pickle.HIGHEST_PROTOCOL)
            stdout.write(len(out).to_bytes(4, "big") + out)
            stdout.flush()
    except BrokenPipeError:  # the parent died (a kill -9): nobody to answer
        return


if __name__ == "__main__":
    main()
