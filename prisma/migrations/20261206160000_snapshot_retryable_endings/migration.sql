-- Only the endings a job can leave are snapshotted: job.failed and job.canceled. A failed or
-- canceled job can be retried, after which its record no longer shows how that run ended, so the
-- event keeps it. A succeeded job never changes again (nothing takes a job out of `succeeded`), so
-- its job.succeeded event reads the job as it is, as events without a snapshot always have
-- (`jobAsOf`). Writing that snapshot for every completion cost about a fifth of the Postgres time
-- of the drain in `npm run bench` (docs/performance.md). A first webhook delivery is still
-- snapshotted whatever its event (its webhook's `data`); existing snapshots stay.
CREATE OR REPLACE FUNCTION darkroom_snapshot_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "JobEventSnapshot" ("eventId", job)
  SELECT e.id, darkroom_job_snapshot(j)
  FROM inserted_events e JOIN "Job" j ON j.id = e."jobId"
  WHERE e.type IN ('job.failed', 'job.canceled')
  ON CONFLICT ("eventId") DO NOTHING;
  RETURN NULL;
END $$;
