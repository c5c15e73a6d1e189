-- PostgreSQL's migration 0009 makes its hold function return the held tickets, saving a
-- read-back round trip. SQLite's hold is a Rust command on the writer's own connection, where
-- a read is a function call. This file keeps the two trees' versions and names aligned.
SELECT 1;
