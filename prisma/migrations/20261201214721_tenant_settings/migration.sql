-- AlterTable
ALTER TABLE "Tenant" ADD COLUMN     "imagesPerDay" INTEGER,
ADD COLUMN     "maxConcurrency" INTEGER,
ADD COLUMN     "monthlyBudgetUsd" DECIMAL(14,4),
ADD COLUMN     "previousWebhookSecret" TEXT,
ADD COLUMN     "previousWebhookSecretValidUntil" TIMESTAMPTZ(3),
ADD COLUMN     "rateLimitPerMinute" INTEGER NOT NULL DEFAULT 600,
ADD COLUMN     "weight" INTEGER NOT NULL DEFAULT 1;
