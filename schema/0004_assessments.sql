-- Assessments: a published questionnaire version sent to a vendor, its answers (with history) and the
-- evidence those answers point at.

-- Evidence metadata. Uploads, content and review through the API are a later feature; scoring already
-- reads status, dates and the requirements an item supports.
CREATE TABLE evidence (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id uuid NOT NULL REFERENCES vendors (id),
    kind text NOT NULL,
    title text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    issued_on date,
    expires_on date,
    requirement_refs text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    reviewed_at timestamptz,
    reviewed_by uuid REFERENCES users (id)
);
CREATE INDEX evidence_vendor ON evidence (vendor_id);
ALTER TABLE evidence ENABLE ROW LEVEL SECURITY;
CREATE POLICY evidence_scope ON evidence USING (bulwark_scope_allows(vendor_id)) WITH CHECK (bulwark_scope_allows(vendor_id));

CREATE TABLE assessments (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vendor_id uuid NOT NULL REFERENCES vendors (id),
    questionnaire_id uuid NOT NULL REFERENCES questionnaires (id),
    status text NOT NULL DEFAULT 'in_progress'
        CHECK (status IN ('in_progress', 'submitted', 'returned', 'approved', 'cancelled')),
    due_date date NOT NULL,
    review_comment text,
    question_comments jsonb NOT NULL DEFAULT '{}',
    created_by uuid REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    submitted_at timestamptz,
    returned_at timestamptz,
    approved_at timestamptz,
    cancelled_at timestamptz,
    -- The score as it stood when the assessment was approved (answers cannot change after that).
    approved_score double precision,
    approved_rating text,
    approved_certification text,
    version integer NOT NULL DEFAULT 1
);
CREATE INDEX assessments_vendor ON assessments (vendor_id, created_at);
CREATE INDEX assessments_order ON assessments (created_at, id);
CREATE INDEX assessments_status_due ON assessments (status, due_date);
ALTER TABLE assessments ENABLE ROW LEVEL SECURITY;
CREATE POLICY assessments_scope ON assessments
    USING (bulwark_scope_allows(vendor_id)) WITH CHECK (bulwark_scope_allows(vendor_id));

CREATE TABLE answers (
    assessment_id uuid NOT NULL REFERENCES assessments (id),
    vendor_id uuid NOT NULL REFERENCES vendors (id),
    question_key text NOT NULL,
    value jsonb,
    comment text,
    evidence_ids uuid[] NOT NULL DEFAULT '{}',
    answered_by uuid REFERENCES users (id),
    on_behalf boolean NOT NULL DEFAULT false,
    answered_at timestamptz NOT NULL DEFAULT now(),
    revision integer NOT NULL DEFAULT 1,
    PRIMARY KEY (assessment_id, question_key)
);
ALTER TABLE answers ENABLE ROW LEVEL SECURITY;
CREATE POLICY answers_scope ON answers USING (bulwark_scope_allows(vendor_id)) WITH CHECK (bulwark_scope_allows(vendor_id));

-- Every answer an answer replaced.
CREATE TABLE answer_history (
    id bigserial PRIMARY KEY,
    assessment_id uuid NOT NULL REFERENCES assessments (id),
    vendor_id uuid NOT NULL REFERENCES vendors (id),
    question_key text NOT NULL,
    value jsonb,
    comment text,
    evidence_ids uuid[] NOT NULL DEFAULT '{}',
    answered_by uuid REFERENCES users (id),
    on_behalf boolean NOT NULL,
    answered_at timestamptz NOT NULL,
    revision integer NOT NULL,
    replaced_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX answer_history_question ON answer_history (assessment_id, question_key, id);
ALTER TABLE answer_history ENABLE ROW LEVEL SECURITY;
CREATE POLICY answer_history_scope ON answer_history
    USING (bulwark_scope_allows(vendor_id)) WITH CHECK (bulwark_scope_allows(vendor_id));
