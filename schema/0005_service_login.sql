-- The service may log in as bulwark_app itself (BULWARK_SERVICE_DATABASE_URL) instead of taking the role with
-- SET ROLE after logging in as the owner: a session that never was the owner cannot RESET ROLE back above
-- row-level security. No password is set here: the operator gives one (ALTER ROLE bulwark_app PASSWORD …)
-- where the cluster asks for passwords; without one, only trust or peer authentication lets it in.
ALTER ROLE bulwark_app LOGIN;
