-- pgbench script: the database-side work of an authenticated
-- GET /v1/vendors/{id}, in the order the server runs it on one connection:
--   1. the bearer-token lookup,
--   2. BEGIN and the row-level-security scope of the request (staff: 'all'),
--   3. the vendor select (identical to bench/vendor_by_id.sql),
--   4. COMMIT.
--
-- The server sends BEGIN and set_config together in ONE simple-protocol round
-- trip ("BEGIN; SELECT set_config(...)"); pgbench runs every statement below as
-- its own round trip, so this script does one round trip more per request than
-- the server does (5 against 4). That makes the pgbench figure slightly
-- pessimistic, i.e. the server/pgbench ratio slightly flattering.
--
-- KEEP IN SYNC: the token lookup must match the one the auth middleware runs
-- (columns, order, join, WHERE); the set_config must match what the server
-- runs for a staff principal (Identity/Permissions.swift); the vendor select
-- must be identical to bench/vendor_by_id.sql, which matches VendorStore.
--
-- bench/run.sh runs this with PGOPTIONS='-c role=bulwark_app' (the role the
-- server SETs on every pooled connection), so row-level security applies. No
-- session-wide scope is set: the vendor row is only visible because of the
-- set_config inside the transaction, as in the server.
--
-- :prefix and :id come from bench/run.sh (`pgbench -D prefix=... -D id=...`)
-- and are sent as bind parameters; run with -M prepared (or -M extended).
SELECT t.id, t.user_id, u.role, u.vendor_id, u.active, t.expires_at, t.revoked_at, t.hash, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.prefix = :prefix;
BEGIN;
SELECT set_config('bulwark.scope', 'all', true);
SELECT id, name, legal_name, website, country, services, tier, status, owner_user_id, contacts, tags, contract_start_date, contract_renewal_date, contract_notice_days, contract_auto_renew, version, created_at, updated_at, deleted_at, la_id, la_status, la_score, la_rating, la_certification, la_approved_at FROM vendors LEFT JOIN LATERAL (SELECT a.id AS la_id, a.status AS la_status, a.approved_score AS la_score, a.approved_rating AS la_rating, a.approved_certification AS la_certification, a.approved_at AS la_approved_at FROM assessments a WHERE a.vendor_id = vendors.id AND a.status <> 'cancelled' ORDER BY (a.status = 'approved') DESC, coalesce(a.approved_at, a.created_at) DESC, a.id DESC LIMIT 1) la ON TRUE WHERE id = :id AND TRUE;
COMMIT;
