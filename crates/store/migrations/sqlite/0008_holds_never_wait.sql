-- PostgreSQL's migration 0008 makes a hold skip places other transactions are taking
-- (`SKIP LOCKED`) instead of waiting for them, so that several commit pipelines can run side by
-- side. SQLite has one writer: nothing is ever locked by another transaction it could skip.
-- This file keeps the two trees' versions and names aligned.
SELECT 1;
