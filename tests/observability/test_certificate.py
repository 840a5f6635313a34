"""The edge's TLS listener exports its certificate's expiry; a real Prometheus scrapes it and the
deploy rules' MeetmeshCertificateExpiringSoon fires for a certificate with 10 days left (its
``for`` shortened: a test cannot wait an hour; promtool's unit test covers the hour and the quiet
case)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import httpx
from cryptography import x509
from prometheus_client.parser import text_string_to_metric_families

from services.edge import server as edge_server
from services.edge.config import EdgeOptions, EdgeSettings
from services.edge.tls import EXPIRY_METRIC, dev_certificate, not_after
from services.stack.servers import free_port
from tests.observability.prom import query, start_prometheus
from tests.support import wait_until


async def test_the_edge_exports_its_certificate_expiry_and_the_alert_fires(
    keys_dir: Path, tmp_path: Path
) -> None:
    cert, key = dev_certificate(tmp_path / "tls", days=10)
    expires = not_after(cert).timestamp()
    settings = EdgeSettings(
        keys_dir=keys_dir,
        edge=EdgeOptions(port=free_port(), tls_port=0, tls_certfile=cert, tls_keyfile=key),
    )
    servers = await edge_server.start_servers(settings)
    prom = None
    try:
        # the listener serves this very certificate
        served = await asyncio.to_thread(ssl.get_server_certificate, ("127.0.0.1", servers.tls_port))
        assert x509.load_pem_x509_certificate(served.encode()).not_valid_after_utc.timestamp() == expires

        async with httpx.AsyncClient(timeout=10) as http:
            exposition = (await http.get(f"{servers.url}/metrics")).text
        samples = {
            sample.labels.get("certificate"): sample.value
            for family in text_string_to_metric_families(exposition)
            if family.name == EXPIRY_METRIC
            for sample in family.samples
        }
        assert samples == {"edge": expires}

        prom = start_prometheus(
            tmp_path / "prometheus",
            {"edge": [f"127.0.0.1:{servers.port}"]},
            MeetmeshCertificateExpiringSoon="0s",
        )
        firing = 'ALERTS{alertname="MeetmeshCertificateExpiringSoon", alertstate="firing"}'

        async def fired() -> bool:
            return bool(await query(prom, firing))

        await wait_until(fired, within_s=30, every_s=0.25)
        alert = (await query(prom, firing))[0]["metric"]
        assert (alert["job"], alert["certificate"], alert["severity"]) == ("edge", "edge", "warning")
        scraped = await query(prom, EXPIRY_METRIC)
        assert float(scraped[0]["value"][1]) == expires
    finally:
        if prom is not None:
            prom.remove()
        await edge_server.stop_servers(servers)
