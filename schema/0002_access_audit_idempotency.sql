-- Identity and access: the application role, row-level security on vendor-owned tables, a hash-chained
-- append-only audit trail, and idempotency keys.

-- The service runs as bulwark_app (SET ROLE on every pooled connection): a role that does not bypass
-- row-level security. Migrations keep running as the owner.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bulwark_app') THEN
        CREATE ROLE bulwark_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;
GRANT bulwark_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO bulwark_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO bulwark_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO bulwark_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE ON TABLES TO bulwark_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO bulwark_app;

-- What the current transaction may see: bulwark.scope is 'all' (staff) or 'vendor' with bulwark.vendor_id.
-- Without a scope (a query run outside a request) nothing vendor-owned is visible.
CREATE FUNCTION bulwark_scope_allows(vendor uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT CASE current_setting('bulwark.scope', true)
        WHEN 'all' THEN true
        WHEN 'vendor' THEN vendor IS NOT NULL AND vendor::text = current_setting('bulwark.vendor_id', true)
        ELSE false
    END
$$;

ALTER TABLE vendors ENABLE ROW LEVEL SECURITY;
CREATE POLICY vendors_scope ON vendors USING (bulwark_scope_allows(id)) WITH CHECK (bulwark_scope_allows(id));

-- The audit trail: rows form a hash chain in seq order; each hash is SHA-256(previous hash || canonical
-- JSON of the row). seq, prev_hash and hash are set by a trigger under a lock, so concurrent writers chain
-- in commit order. UPDATE, DELETE and TRUNCATE are refused by the database.
ALTER TABLE audit_events ADD COLUMN seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

CREATE FUNCTION audit_canonical(e audit_events) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'seq', e.seq,
        'occurred_at', to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'actor_user_id', e.actor_user_id,
        'actor_role', e.actor_role,
        'action', e.action,
        'resource_type', e.resource_type,
        'resource_id', e.resource_id,
        'changes', e.changes,
        'request_id', e.request_id,
        'client_address', e.client_address
    )::text
$$;

CREATE FUNCTION audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash bytea;
BEGIN
    PERFORM pg_advisory_xact_lock(4242002);
    SELECT seq, hash INTO last_seq, last_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
    NEW.seq := coalesce(last_seq, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    NEW.hash := sha256(NEW.prev_hash || convert_to(audit_canonical(NEW), 'UTF8'));
    RETURN NEW;
END
$$;

CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Chain the rows written before this migration, in id order.
DO $$
DECLARE
    r audit_events;
    prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
    n bigint := 0;
BEGIN
    FOR r IN SELECT * FROM audit_events ORDER BY id LOOP
        n := n + 1;
        r.seq := n;
        r.prev_hash := prev;
        r.hash := sha256(prev || convert_to(audit_canonical(r), 'UTF8'));
        UPDATE audit_events SET seq = r.seq, prev_hash = r.prev_hash, hash = r.hash WHERE id = r.id;
        prev := r.hash;
    END LOOP;
END
$$;

ALTER TABLE audit_events ALTER COLUMN seq SET NOT NULL, ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, seq);
CREATE INDEX audit_events_time ON audit_events (occurred_at);

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_chain();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM bulwark_app;

-- Idempotency-Key on POST: the first response is kept 24 hours per (user, key).
CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL REFERENCES users (id),
    key text NOT NULL,
    request_hash bytea NOT NULL,
    state text NOT NULL CHECK (state IN ('in_progress', 'done')),
    response_status integer,
    response_headers jsonb,
    response_body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO bulwark_app;

CREATE INDEX users_order ON users (created_at, id);
