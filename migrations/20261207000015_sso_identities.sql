-- Single sign-on accounts are the identity provider's (issuer, subject), not a name: a name is
-- whatever the provider lets its users choose (preferred_username, an unverified email), and two
-- of its users must never share one account here. Accounts from before this migration have
-- neither and are never bound by name (an admin removes them; the next sign-in makes them again).
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc_identity ON users (oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;
