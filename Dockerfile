# One image for every role: `node dist/api.js`, `node dist/worker.js`, `node dist/migrate.js`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/upstream-simulator/package.json apps/upstream-simulator/
COPY apps/dashboard/package.json apps/dashboard/
COPY packages/ packages/
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY --from=build /app/apps/dashboard/dist apps/dashboard/dist
COPY --from=build /app/prisma prisma
COPY --from=build /app/package.json package.json
USER node
EXPOSE 3000
CMD ["node", "--enable-source-maps", "--max-semi-space-size=32", "dist/api.js"]
