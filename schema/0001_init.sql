-- Bulwark's first schema: users and API tokens, vendors, and the audit trail.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role text NOT NULL CHECK (role IN ('admin', 'procurement', 'risk_analyst', 'auditor', 'vendor')),
    vendor_id uuid,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_vendor_only_for_vendor_role CHECK ((role = 'vendor') = (vendor_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE vendors (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    legal_name text CHECK (length(legal_name) <= 300),
    website text CHECK (length(website) <= 2048),
    country text CHECK (country ~ '^[A-Z]{2}$'),
    services text[] NOT NULL DEFAULT '{}',
    tier text NOT NULL CHECK (tier IN ('critical', 'high', 'medium', 'low')),
    status text NOT NULL DEFAULT 'prospect' CHECK (status IN ('prospect', 'active', 'offboarded')),
    owner_user_id uuid REFERENCES users (id),
    contacts jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(contacts) = 'array'),
    tags text[] NOT NULL DEFAULT '{}',
    contract_start_date date,
    contract_renewal_date date,
    contract_notice_days integer CHECK (contract_notice_days BETWEEN 0 AND 3650),
    contract_auto_renew boolean NOT NULL DEFAULT false,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT vendors_renewal_after_start CHECK (contract_renewal_date >= contract_start_date)
);
-- Names are unique case-insensitively among vendors that are not deleted.
CREATE UNIQUE INDEX vendors_name_key ON vendors (lower(name)) WHERE deleted_at IS NULL;
CREATE INDEX vendors_created_order ON vendors (created_at, id);
CREATE INDEX vendors_name_order ON vendors (lower(name), id);
CREATE INDEX vendors_tags ON vendors USING gin (tags);
CREATE INDEX vendors_name_search ON vendors USING gin (name gin_trgm_ops);

ALTER TABLE users ADD CONSTRAINT users_vendor_id_fkey FOREIGN KEY (vendor_id) REFERENCES vendors (id);

CREATE TABLE api_tokens (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- the first characters of the secret, for lookup; the secret itself is kept only as its SHA-256
    prefix text NOT NULL UNIQUE,
    hash bytea NOT NULL CHECK (length(hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_user_id uuid,
    actor_role text,
    action text NOT NULL,
    resource_type text NOT NULL,
    resource_id text NOT NULL,
    changes jsonb NOT NULL DEFAULT '{}',
    request_id text,
    client_address text
);
CREATE INDEX audit_events_resource ON audit_events (resource_type, resource_id, id);
