-- CreateIndex
CREATE INDEX "Job_tenantId_resultModel_id_idx" ON "Job"("tenantId", "resultModel", "id");
