-- Identity and access: sites (institutions), people and their roles, the sites each may see,
-- their sessions and API tokens, and the DICOM AE titles of each site's devices.
-- A study belongs to the site that first sent it; a principal sees the studies of its scope.

CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('hospital', 'community', 'regional')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    -- PHC string (argon2id)
    password_hash TEXT NOT NULL,
    site_pk INTEGER NOT NULL REFERENCES sites (id),
    -- a regional grant of every site
    all_sites INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE user_roles (
    user_pk INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'radiologist', 'technologist', 'qc-officer',
                                        'data-steward', 'researcher')),
    PRIMARY KEY (user_pk, role)
);

-- Sites a user may see besides its own.
CREATE TABLE user_site_grants (
    user_pk INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    site_pk INTEGER NOT NULL REFERENCES sites (id),
    PRIMARY KEY (user_pk, site_pk)
);

-- Sessions (after a login) and API tokens; only the SHA-256 of a token is kept.
CREATE TABLE credentials (
    token_sha256 TEXT PRIMARY KEY,
    user_pk INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'api')),
    label TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    expires_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX credentials_user ON credentials (user_pk);

-- The DICOM application entities of each site: a calling AE title not listed here cannot
-- associate.
CREATE TABLE ae_titles (
    ae_title TEXT PRIMARY KEY,
    site_pk INTEGER NOT NULL REFERENCES sites (id),
    -- a regional archive or PACS that may query and retrieve every site's studies
    all_sites INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT ''
);

ALTER TABLE studies ADD COLUMN site_pk INTEGER REFERENCES sites (id);
CREATE INDEX studies_site ON studies (site_pk);
