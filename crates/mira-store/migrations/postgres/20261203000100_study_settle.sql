-- Study completeness, decided in the database that every node shares: a study is complete
-- ("settled") when nothing has been stored into it for the settle time, that is when its
-- updated_at (bumped by every instance stored, on whichever node) is old enough. One node at a
-- time claims a settled study for series and study QC (qc_claimed_by, with a lease), and
-- records which state of the study it checked (qc_done_for = the updated_at it saw), so that a
-- study that receives more later is due again.
ALTER TABLE studies ADD COLUMN qc_done_for TEXT;
ALTER TABLE studies ADD COLUMN qc_claimed_by TEXT;
ALTER TABLE studies ADD COLUMN qc_lease_until TEXT;
-- the studies due for QC, in the order they settled: only those, so that the claim each node
-- makes every few seconds does not walk the whole archive
CREATE INDEX studies_qc_due ON studies (updated_at)
    WHERE qc_done_for IS NULL OR qc_done_for < updated_at;
-- the periodic catch-up on instances no node checked looks at the recent ones only
CREATE INDEX instances_received ON instances (received_at);

-- studies already checked since their last instance need nothing more
UPDATE studies SET qc_done_for = updated_at
WHERE EXISTS (SELECT 1 FROM qc_results q
              WHERE q.level = 'study' AND q.subject_uid = studies.study_instance_uid
                AND q.checked_at >= studies.updated_at);
