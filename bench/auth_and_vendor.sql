-- pgbench script: the database-side work of an authenticated
-- GET /v1/vendors/{id}: the bearer-token lookup, then the vendor select.
--
-- KEEP IN SYNC: the first SELECT must match the token lookup the auth
-- middleware runs (columns, order, join, WHERE); the second must be identical
-- to the one in bench/vendor_by_id.sql, which in turn matches VendorStore.
--
-- :prefix and :id come from bench/run.sh (`pgbench -D prefix=... -D id=...`)
-- and are sent as bind parameters; run with -M prepared (or -M extended).
SELECT t.id, t.user_id, u.role, u.vendor_id, u.active, t.expires_at, t.revoked_at, t.hash, t.last_used_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.prefix = :prefix;
SELECT id, name, legal_name, website, country, services, tier, status, owner_user_id, contacts, tags, contract_start_date, contract_renewal_date, contract_notice_days, contract_auto_renew, version, created_at, updated_at, deleted_at FROM vendors WHERE id = :id AND TRUE;
