"""The event loop and heap set-up every meetmesh server process shares (services, edge)."""

from __future__ import annotations

import asyncio
import contextlib
import gc


def install_uvloop() -> None:
    """Run asyncio on uvloop where it is installed (it is a dependency; the fallback keeps a bare
    interpreter working). Measured on the edge: the standard loop's own Python code was about a
    third of the function calls per proxied request."""
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def freeze_startup_heap() -> None:
    """Once start-up is over: collect, then move every object that exists now (modules,
    descriptors, settings, routing tables: ~200,000 objects in ``serve user meeting``) out of the
    collector's reach with ``gc.freeze()``, so that later collections scan only what requests
    allocate. Measured over ~10,000 GetMeeting calls: time in the collector 0.39-0.41 s before,
    0.12-0.17 s after."""
    gc.collect()
    gc.freeze()
