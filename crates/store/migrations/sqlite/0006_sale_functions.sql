-- PostgreSQL's migration 0006 creates the purchase's PL/pgSQL functions (hold, begin payment,
-- confirm: one call each). SQLite needs none: its writer thread runs those steps as Rust
-- commands on the connection it owns. This file keeps the two trees' versions and names
-- aligned, so that one change has one number on both backends.
SELECT 1;
