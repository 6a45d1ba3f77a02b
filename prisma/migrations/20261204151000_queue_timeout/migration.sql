-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "queueExpiresAt" TIMESTAMPTZ(3),
ADD COLUMN     "queueTimeoutSeconds" INTEGER;

-- CreateIndex
CREATE INDEX "Job_status_queueExpiresAt_idx" ON "Job"("status", "queueExpiresAt");
