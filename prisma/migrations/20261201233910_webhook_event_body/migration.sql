-- CreateTable
CREATE TABLE "WebhookEventBody" (
    "eventId" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookEventBody_pkey" PRIMARY KEY ("eventId")
);

-- AddForeignKey
ALTER TABLE "WebhookEventBody" ADD CONSTRAINT "WebhookEventBody_eventId_fkey" FOREIGN KEY ("eventId") REFERENCES "JobEvent"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Move the bodies (written by hand: db:diff cannot move data). Every attempt of an event carried a
-- copy of one body, fixed at its first attempt: keep that one, once per event.
INSERT INTO "WebhookEventBody" ("eventId", "body", "createdAt")
SELECT DISTINCT ON ("eventId") "eventId", "requestBody", COALESCE("sentAt", "createdAt")
FROM "WebhookDelivery"
WHERE "requestBody" IS NOT NULL
ORDER BY "eventId", "attemptNumber", "createdAt";

-- AlterTable
ALTER TABLE "WebhookDelivery" DROP COLUMN "requestBody";
