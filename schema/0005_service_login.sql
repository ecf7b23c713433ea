-- The service may log in as bulwark_app itself (BULWARK_SERVICE_DATABASE_URL) instead of taking the role with
-- SET ROLE after logging in as the owner: a session that never was the owner cannot RESET ROLE back above
-- row-level security. No password is set here: the operator gives one (ALTER ROLE bulwark_app PASSWORD …)
-- where the cluster asks for passwords; without one, only trust or peer authentication lets it in.
-- An owner without the right to alter roles (the role was made by a DBA) leaves it as it is: SET ROLE still
-- works, and the DBA can grant LOGIN.
DO $$
BEGIN
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'bulwark_app') THEN
        ALTER ROLE bulwark_app LOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'bulwark_app keeps NOLOGIN (no right to alter it): the service can still use SET ROLE';
END
$$;
