-- CreateTable
CREATE TABLE "BulkOperation" (
    "id" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "filter" JSONB NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'running',
    "total" INTEGER NOT NULL,
    "processed" INTEGER NOT NULL DEFAULT 0,
    "succeeded" INTEGER NOT NULL DEFAULT 0,
    "skipped" INTEGER NOT NULL DEFAULT 0,
    "failed" INTEGER NOT NULL DEFAULT 0,
    "upToId" TEXT,
    "lastId" TEXT,
    "error" TEXT,
    "idempotencyKey" TEXT,
    "owner" TEXT,
    "heartbeatAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),

    CONSTRAINT "BulkOperation_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "BulkOperation_idempotencyKey_key" ON "BulkOperation"("idempotencyKey");

-- CreateIndex
CREATE INDEX "BulkOperation_status_heartbeatAt_idx" ON "BulkOperation"("status", "heartbeatAt");
