"""The real servers meetmesh starts itself (tests, ``meetmesh up --stack``).

Every server runs under a folder of the project's own, on a port of its own; nothing here uses a
machine-wide service. See ``docs/stores.md`` for which server plays which role where.
"""

from .ferretdb import FerretDBServer
from .postgres import PostgresServer
from .redis import RedisServer
from .s3 import SeaweedS3Server
from .servers import ManagedServer, MissingPrerequisite, ServerFailed, ServerSet, StackError, free_port
from .stack import Stack

__all__ = [
    "FerretDBServer",
    "ManagedServer",
    "MissingPrerequisite",
    "PostgresServer",
    "RedisServer",
    "SeaweedS3Server",
    "ServerFailed",
    "ServerSet",
    "Stack",
    "StackError",
    "free_port",
]
