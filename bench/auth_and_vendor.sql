-- pgbench script: the database-side work of an authenticated
-- GET /v1/vendors/{id} from a token the server has seen before (its principal
-- is cached), exactly as the server sends it on one connection: ONE pipeline
-- (one round trip, one implicit transaction ending at the pipeline's sync) of
--   1. the guard: re-checks the token (not revoked or expired, user active,
--      role unchanged), makes the transaction read-only and sets the row-
--      level-security scope transaction-locally; an aggregate, so it always
--      returns one row (Identity/PrincipalCache.swift, guardStatement),
--   2. the vendor select (identical to bench/vendor_by_id.sql).
-- Reads send no BEGIN or COMMIT (Postgres/Connection.swift, beginLazily with
-- implicit: true). A token not yet cached costs one more statement (the
-- lookup by prefix), once per token per 30 seconds.
--
-- KEEP IN SYNC with those two files and with bench/vendor_by_id.sql.
--
-- bench/run.sh runs this with PGOPTIONS='-c role=bulwark_app', so row-level
-- security applies, and checks first (inside BEGIN/COMMIT instead of the
-- pipeline, where \gset is not allowed) that each SELECT returns one row.
--
-- :id, :tid and :uid come from bench/run.sh (`pgbench -D ...`) and are sent
-- as bind parameters; run with -M prepared (or -M extended).
\startpipeline
SELECT count(*) = 1 AS ok, set_config('transaction_read_only', 'on', true), set_config('bulwark.scope', CASE WHEN count(*) = 1 THEN 'all' ELSE 'none' END, true) FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = :tid AND t.user_id = :uid AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.active AND u.role = 'admin';
SELECT id, name, legal_name, website, country, services, tier, status, owner_user_id, contacts, tags, contract_start_date, contract_renewal_date, contract_notice_days, contract_auto_renew, version, created_at, updated_at, deleted_at, la_id, la_status, la_score, la_rating, la_certification, la_approved_at FROM vendors LEFT JOIN LATERAL (SELECT a.id AS la_id, a.status AS la_status, a.approved_score AS la_score, a.approved_rating AS la_rating, a.approved_certification AS la_certification, a.approved_at AS la_approved_at FROM assessments a WHERE a.vendor_id = vendors.id AND a.status <> 'cancelled' ORDER BY (a.status = 'approved') DESC, coalesce(a.approved_at, a.created_at) DESC, a.id DESC LIMIT 1) la ON TRUE WHERE id = :id AND TRUE;
\endpipeline
