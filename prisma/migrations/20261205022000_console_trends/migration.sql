-- The console's webhook-health trend reads deliveries by when they were sent (the last hour or day).
-- CreateIndex
CREATE INDEX "WebhookDelivery_sentAt_idx" ON "WebhookDelivery"("sentAt");
