-- CreateIndex
CREATE INDEX "Job_status_id_idx" ON "Job"("status", "id");

-- CreateIndex
CREATE INDEX "Job_createdAt_idx" ON "Job"("createdAt");

-- CreateIndex
CREATE INDEX "Job_metadata_idx" ON "Job" USING GIN ("metadata" jsonb_path_ops);

-- Prompt words for the operator's console (`q`): full text with the 'simple' configuration (lower
-- case, no stemming, no stop words: any word of any language matches as typed). Prisma cannot
-- describe an expression index, so this one lives in migrations only; the schema agreement test
-- knows indexes named `…_search_idx` as such.
CREATE INDEX "Job_prompt_search_idx" ON "Job" USING GIN (to_tsvector('simple', prompt));
