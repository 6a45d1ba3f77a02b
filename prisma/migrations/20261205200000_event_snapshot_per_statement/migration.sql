-- Event snapshots are written once per statement instead of once per row. The row triggers called
-- a SQL function per event, which Postgres parsed and planned again on every call: two thirds of a
-- batched completion's time (660 µs of Postgres per job in the drain of `npm run bench`). These
-- statement-level triggers read the rows the statement inserted (transition tables) and write all
-- their snapshots in one INSERT, planned once per session. Like the row triggers, they run at the
-- end of the statement and see every change it made (a transition is one statement of CTEs updating
-- the job and its attempts and writing the event; cancel and the reconciler update the job and its
-- attempts before they append the event); a statement that inserts into the table from several CTEs
-- fires them once, with all of its rows.
DROP TRIGGER "JobEvent_snapshot" ON "JobEvent";
DROP TRIGGER "WebhookDelivery_snapshot" ON "WebhookDelivery";
DROP FUNCTION darkroom_snapshot_event();
DROP FUNCTION darkroom_snapshot_delivery();
DROP FUNCTION darkroom_snapshot_job(TEXT, TEXT);

-- The job as it stands (without prompt, metadata, lease and idempotency columns), with its attempts
-- (without the operators' upstream words).
CREATE FUNCTION darkroom_job_snapshot(j "Job") RETURNS JSONB LANGUAGE sql STABLE AS $$
  SELECT (to_jsonb(j) - ARRAY['prompt', 'metadata', 'idempotencyKey', 'requestHash', 'leaseOwner', 'leaseExpiresAt'])
    || jsonb_build_object('attempts', COALESCE((
      SELECT jsonb_agg(to_jsonb(a) - ARRAY['upstreamDetail', 'streamHead'] ORDER BY a.number)
      FROM "JobAttempt" a WHERE a."jobId" = j.id), '[]'::jsonb))
$$;

-- Terminal events: the job they end (the event stream's terminal events carry it).
CREATE FUNCTION darkroom_snapshot_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "JobEventSnapshot" ("eventId", job)
  SELECT e.id, darkroom_job_snapshot(j)
  FROM inserted_events e JOIN "Job" j ON j.id = e."jobId"
  WHERE e.type IN ('job.succeeded', 'job.failed', 'job.canceled')
  ON CONFLICT ("eventId") DO NOTHING;
  RETURN NULL;
END $$;

-- An event's first delivery (the outbox row written with it): its webhook's `data`.
CREATE FUNCTION darkroom_snapshot_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "JobEventSnapshot" ("eventId", job)
  SELECT d."eventId", darkroom_job_snapshot(j)
  FROM inserted_deliveries d JOIN "Job" j ON j.id = d."jobId"
  WHERE d."attemptNumber" = 1 AND NOT d.manual
  ON CONFLICT ("eventId") DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER "JobEvent_snapshot" AFTER INSERT ON "JobEvent"
  REFERENCING NEW TABLE AS inserted_events FOR EACH STATEMENT
  EXECUTE FUNCTION darkroom_snapshot_events();

CREATE TRIGGER "WebhookDelivery_snapshot" AFTER INSERT ON "WebhookDelivery"
  REFERENCING NEW TABLE AS inserted_deliveries FOR EACH STATEMENT
  EXECUTE FUNCTION darkroom_snapshot_deliveries();
