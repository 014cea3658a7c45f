-- Named statements of tenant administration (PostgreSQL only). Identifiers
-- are validated by taskloom (letters, digits, '_') and spliced in as
-- {schema} / {role}; passwords are bound as literals by psycopg.

-- name: role_exists
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s);

-- name: create_role
CREATE ROLE {role} LOGIN PASSWORD {password};

-- name: create_schema
CREATE SCHEMA {schema} AUTHORIZATION {role};

-- name: revoke_public
-- Nobody but the owner may look into the schema: not other tenants, not PUBLIC.
REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;

-- name: grant_connect
GRANT CONNECT ON DATABASE {database} TO {role};

-- name: drop_schema
DROP SCHEMA IF EXISTS {schema} CASCADE;

-- name: drop_owned
DROP OWNED BY {role};

-- name: drop_role
DROP ROLE IF EXISTS {role};
