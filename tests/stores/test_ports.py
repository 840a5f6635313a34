"""A port taken between picking and binding it (services/stack/servers.py): free ports are only
free when picked, and another process, or an outgoing connection's ephemeral port, can take one
before the server binds it (a CI run once lost two tests to that). A server whose port was picked
starts again on a new one; a given port, or a restart after a first start, keeps its port and says
why it could not start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from services.stack import PostgresServer, RedisServer, free_port
from services.stack.observability import PrometheusServer
from services.stack.servers import ManagedServer, ServerFailed
from tests.support import squatting

SERVERS: dict[str, Callable[[], ManagedServer]] = {  # each in a temporary folder of its own
    "redis": RedisServer,
    "postgres": PostgresServer,
    "prometheus": lambda: PrometheusServer({"global": {"scrape_interval": "1m"}}),
}


@pytest.mark.parametrize("kind", SERVERS)
def test_a_picked_port_taken_before_binding_moves_the_server(kind: str) -> None:
    server = SERVERS[kind]()
    taken = server.port
    with squatting(taken):
        try:
            server.start()
            assert server.running and server.port != taken and server.is_ready()
            assert "address already in use" not in server.log_tail(50)  # the failed try's log is gone
        finally:
            server.remove()


def test_a_given_port_that_is_taken_fails_and_says_so(tmp_path: Path) -> None:
    given = free_port()
    server = RedisServer(tmp_path, given)
    with squatting(given):
        with pytest.raises(ServerFailed, match="address already in use"):
            server.start()
        assert server.port == given and not server.running


def test_a_restart_keeps_its_port_even_when_taken(tmp_path: Path) -> None:
    """Clients know the port from the first start: a restart that moved would lose them."""
    server = RedisServer(tmp_path, 0)
    try:
        server.start()
        port = server.port
        server.kill()
        with squatting(port), pytest.raises(ServerFailed, match="address already in use"):
            server.start()
        assert server.port == port
        server.start()  # the port is free again: the same server, the same port
        with redis.Redis(port=port) as client:
            assert server.port == port and client.ping()
    finally:
        server.remove()
