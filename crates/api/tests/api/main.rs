//! Integration tests: the real server on a random port, spoken to over HTTP, on SQLite and
//! on PostgreSQL (every test runs once per backend, each on a fresh database).

mod helpers;

mod accounts;
mod admin;
mod catalog;
mod errors;
mod findings;
mod live;
mod observability;
mod payments;
mod purchase;
mod races;
mod schema;
mod security;
mod web;
mod webhooks;
