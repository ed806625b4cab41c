# flextask image: Node 24 runs the TypeScript sources directly (type stripping), so there is no build step.
#   docker build -t flextask .
#   docker run --rm -e KAFKA_BROKERS=… -v flextask-state:/var/lib/flextask flextask scheduler
# The entrypoint is the `flextask` command; the argument picks what runs (`up` = every component, the default).
# Runs as the image's unprivileged `node` user (uid 1000); the LevelDB state directory is a volume.
# test/unit/container-image.test.ts checks this file (USER, HEALTHCHECK, VOLUME, COPY sources).

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# postinstall patches @platformatic/kafka's read_committed filter (scripts/patch-platformatic-kafka.ts).
COPY scripts/patch-platformatic-kafka.ts scripts/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-slim
ENV NODE_ENV=production \
    FLEXTASK_STATE_DIR=/var/lib/flextask \
    PORT=3000 \
    METRICS_PORT=9464 \
    LOG_PRETTY=false
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# Sources only: .dockerignore leaves out tests, benchmarks, local tools and state.
COPY . .
RUN mkdir -p /var/lib/flextask && chown 1000:1000 /var/lib/flextask
USER 1000:1000
VOLUME ["/var/lib/flextask"]
EXPOSE 3000 9464
# /health/live on METRICS_PORT (host/ops-server.ts); the slim image has no curl, node's fetch does it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.METRICS_PORT}/health/live`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "cli/flextask.ts"]
CMD ["up"]
