"""Which local addresses aioice gathers host candidates on (process-wide).

aioice gathers on every interface but skips 127.0.0.1, so peers on one machine that must talk over
loopback (tests, a bot beside a local SFU) restrict it: ``use_host_addresses(["127.0.0.1"])``.
"""

from __future__ import annotations

from collections.abc import Sequence

import aioice.ice

_original_get_host_addresses = aioice.ice.get_host_addresses


def use_host_addresses(addresses: Sequence[str] | None) -> None:
    """Gather host candidates only on these addresses (None or empty restores aioice's choice)."""
    if not addresses:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses
