-- Requirement catalogs (frameworks) and questionnaire templates.
CREATE TABLE frameworks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL CHECK (key ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    version text NOT NULL CHECK (length(version) BETWEEN 1 AND 50),
    description text NOT NULL DEFAULT '',
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT frameworks_key_version_key UNIQUE (key, version)
);
CREATE INDEX frameworks_order ON frameworks (created_at, id);

CREATE TABLE requirements (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    framework_id uuid NOT NULL REFERENCES frameworks (id),
    position integer NOT NULL,
    ref text NOT NULL,
    title text NOT NULL,
    description text NOT NULL DEFAULT '',
    principle text NOT NULL CHECK (principle IN ('integrate_defensively', 'test_completely', 'deploy_pessimistically',
        'run_cautiously', 'observe_obsessively', 'recover_urgently', 'update_frequently', 'govern_resilience')),
    severity text NOT NULL CHECK (severity IN ('critical', 'high', 'medium', 'low')),
    weight double precision NOT NULL CHECK (weight > 0),
    must_pass boolean NOT NULL DEFAULT false,
    evidence_required boolean NOT NULL DEFAULT false,
    evidence_kinds text[] NOT NULL DEFAULT '{}',
    evidence_max_age_days integer CHECK (evidence_max_age_days > 0),
    remediation text NOT NULL DEFAULT '',
    mappings jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT requirements_framework_ref_key UNIQUE (framework_id, ref),
    CONSTRAINT requirements_framework_position_key UNIQUE (framework_id, position)
);

-- A questionnaire family has numbered versions; a published version never changes. The sections are kept
-- as validated JSON text (json, not jsonb, so the document reads back exactly as written).
CREATE TABLE questionnaires (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    family_id uuid NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    status text NOT NULL CHECK (status IN ('draft', 'published')),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    framework_id uuid NOT NULL REFERENCES frameworks (id),
    sections json NOT NULL,
    question_count integer NOT NULL,
    revision integer NOT NULL DEFAULT 1,
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    CONSTRAINT questionnaires_family_version_key UNIQUE (family_id, version),
    CONSTRAINT questionnaires_published_at CHECK ((status = 'published') = (published_at IS NOT NULL))
);
-- At most one open draft per family.
CREATE UNIQUE INDEX questionnaires_one_draft ON questionnaires (family_id) WHERE status = 'draft';
CREATE INDEX questionnaires_order ON questionnaires (created_at, id);

-- Published versions are immutable in the database too.
CREATE FUNCTION questionnaires_refuse_published_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status = 'published' THEN
        RAISE EXCEPTION 'questionnaire % version % is published and cannot change', OLD.family_id, OLD.version
            USING ERRCODE = 'check_violation', CONSTRAINT = 'questionnaires_published_immutable';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER questionnaires_published_immutable BEFORE UPDATE OR DELETE ON questionnaires
    FOR EACH ROW EXECUTE FUNCTION questionnaires_refuse_published_change();
