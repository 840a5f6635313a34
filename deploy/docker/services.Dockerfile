# The Python services (one image; the command picks the service): multi-stage, non-root.
#   docker build -f deploy/docker/services.Dockerfile -t meetmesh/services .
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml requirements-nodeps.txt README.md ./
COPY gen gen
COPY services services
COPY clients/python clients/python
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir . \
    && /venv/bin/pip install --no-cache-dir --no-deps -r requirements-nodeps.txt

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app meetmesh
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=meetmesh gen gen
COPY --chown=meetmesh services services
ENV PATH=/venv/bin:$PATH PYTHONPATH=/app/gen:/app MEETMESH_LOG_JSON=true \
    SERVICE=meeting HEALTH_PORT=9082
USER meetmesh
# /healthz on the service's HTTP side port: 200 once serving and every readiness check passes
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"HEALTH_PORT\"]}/healthz', timeout=2)"
ENTRYPOINT ["sh", "-c", "exec meetmesh serve \"$SERVICE\""]
