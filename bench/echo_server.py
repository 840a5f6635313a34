"""The baseline: a bare grpclib server (uvloop) whose one method answers at once.

It serves grpc.health.v1 Check with no checks configured, which replies SERVING without any
work: the cost of a unary call through grpclib and the loopback, nothing else.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import uvloop
from grpclib.health.service import Health
from grpclib.server import Server


async def serve(port: int) -> None:
    server = Server([Health()])
    await server.start("127.0.0.1", port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(serve(int(sys.argv[1])))
