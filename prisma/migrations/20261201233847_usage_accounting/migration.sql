-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "costUsd" DECIMAL(14,6),
ADD COLUMN     "imagesStored" INTEGER;

-- CreateIndex
CREATE INDEX "Job_tenantId_finishedAt_idx" ON "Job"("tenantId", "finishedAt");
