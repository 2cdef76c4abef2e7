-- Trigram matching, for fuzzy user search: `read_models.user_profiles` finds handles and names
-- by prefix and by trigram word similarity, so a typo ("lovelase") still finds "Lovelace".
--
-- Installed in `public` explicitly (not whatever schema leads the migrating role's search
-- path): projection generations run with `search_path = proj_<name>_g<n>, public`, so their
-- `gin_trgm_ops` indexes resolve it there, and queries on `read_models` find `word_similarity`
-- and `<%` on the default search path.
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
