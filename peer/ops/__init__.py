"""One function per user operation: the command line, the local API and the web pages call these.

Each operation takes its context first (a :class:`~roamsync.peer.daemon.node.Node`,
or for those that set a directory up, its folder), then typed arguments, and
returns plain data (dicts and lists) that the command line prints and the API
sends as JSON. Arguments from outside are checked against the signature by
:func:`~roamsync.peer.ops.args.bind` first, the same way for every caller.

The command line runs an operation through the daemon's local API when
``roamsync serve`` runs on the directory (:mod:`roamsync.peer.api`), and on the
directory's node, opened for the call, when it does not: the same function
either way.
"""

from roamsync.peer.ops.people import user_accept, user_invite, user_status, users
from roamsync.peer.ops.records import (
    create,
    delete,
    find,
    get,
    label_references,
    list_page,
    list_records,
    rejections,
    restore,
    search,
    update,
)
from roamsync.peer.ops.setup import (
    backup,
    company,
    disconnect,
    init,
    invite,
    join,
    register_company,
    repair,
)
from roamsync.peer.ops.setup import (
    restore as restore_directory,
)
from roamsync.peer.ops.sync import (
    changes,
    conflicts,
    devices,
    history,
    log,
    offline,
    online,
    resolve,
    status,
)
from roamsync.peer.ops.transfer import import_records, to_csv

__all__ = [
    "backup",
    "changes",
    "company",
    "conflicts",
    "create",
    "delete",
    "devices",
    "disconnect",
    "find",
    "get",
    "history",
    "import_records",
    "init",
    "invite",
    "join",
    "label_references",
    "list_page",
    "list_records",
    "log",
    "offline",
    "online",
    "register_company",
    "rejections",
    "repair",
    "resolve",
    "restore",
    "restore_directory",
    "search",
    "status",
    "to_csv",
    "update",
    "user_accept",
    "user_invite",
    "user_status",
    "users",
]
