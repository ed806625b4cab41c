# flextask image: Node 24 runs the TypeScript sources directly (type stripping).
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# postinstall patches @platformatic/kafka's read_committed filter (scripts/patch-platformatic-kafka.ts).
COPY scripts/patch-platformatic-kafka.ts scripts/
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV FLEXTASK_STATE_DIR=/var/lib/flextask
CMD ["node", "cli/flextask.ts", "up"]
