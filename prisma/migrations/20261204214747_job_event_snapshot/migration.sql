-- CreateTable
CREATE TABLE "JobEventSnapshot" (
    "eventId" TEXT NOT NULL,
    "job" JSONB NOT NULL,

    CONSTRAINT "JobEventSnapshot_pkey" PRIMARY KEY ("eventId")
);

-- AddForeignKey
ALTER TABLE "JobEventSnapshot" ADD CONSTRAINT "JobEventSnapshot_eventId_fkey" FOREIGN KEY ("eventId") REFERENCES "JobEvent"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- The job as it stands after the statement that wrote an event. Row-level AFTER triggers run at the
-- end of that statement, so they see every change it made (a transition is one statement of CTEs
-- updating the job, its attempts and writing the event; cancel and the reconciler update the job and
-- its attempts before they append the event). Written once per event.
CREATE FUNCTION darkroom_snapshot_job(event_id TEXT, job_id TEXT) RETURNS void LANGUAGE sql AS $$
  INSERT INTO "JobEventSnapshot" ("eventId", job)
  SELECT event_id,
    (to_jsonb(j) - 'prompt' - 'metadata' - 'idempotencyKey' - 'requestHash' - 'leaseOwner' - 'leaseExpiresAt')
      || jsonb_build_object('attempts', COALESCE((
        SELECT jsonb_agg(to_jsonb(a) - 'upstreamDetail' - 'streamHead' ORDER BY a.number)
        FROM "JobAttempt" a WHERE a."jobId" = j.id), '[]'::jsonb))
  FROM "Job" j WHERE j.id = job_id
  ON CONFLICT ("eventId") DO NOTHING
$$;

CREATE FUNCTION darkroom_snapshot_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM darkroom_snapshot_job(NEW.id, NEW."jobId");
  RETURN NULL;
END $$;

CREATE FUNCTION darkroom_snapshot_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM darkroom_snapshot_job(NEW."eventId", NEW."jobId");
  RETURN NULL;
END $$;

-- Terminal events: the job they end (the event stream's terminal events carry it).
CREATE TRIGGER "JobEvent_snapshot" AFTER INSERT ON "JobEvent" FOR EACH ROW
  WHEN (NEW.type IN ('job.succeeded', 'job.failed', 'job.canceled'))
  EXECUTE FUNCTION darkroom_snapshot_event();

-- An event's first delivery (the outbox row written with it): its webhook's `data`.
CREATE TRIGGER "WebhookDelivery_snapshot" AFTER INSERT ON "WebhookDelivery" FOR EACH ROW
  WHEN (NEW."attemptNumber" = 1 AND NOT NEW.manual)
  EXECUTE FUNCTION darkroom_snapshot_delivery();
