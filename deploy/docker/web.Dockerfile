# The web client's static files behind nginx (unprivileged image: runs as uid 101 on :8080).
#   docker build -f deploy/docker/web.Dockerfile -t meetmesh/web .
FROM node:20-slim AS build
WORKDIR /src/clients/web
COPY clients/web/package.json clients/web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY gen/ts /src/gen/ts
COPY clients/web ./
RUN npm run build

FROM nginxinc/nginx-unprivileged:1.27-alpine
COPY --from=build /src/clients/web/dist /usr/share/nginx/html
USER 101
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
