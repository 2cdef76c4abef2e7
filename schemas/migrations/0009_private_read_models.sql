-- Personal data in the read models (email addresses, phone numbers, the IP addresses sessions
-- signed in from) is kept in tables of its own, whose views live here rather than in
-- `read_models`: the API reads both schemas, analysts only `read_models`.
--
-- Projections name these tables in `Projection::private_tables`; the runner points
-- `private_read_models.<table>` at the active generation exactly as it does `read_models.<table>`.
CREATE SCHEMA IF NOT EXISTS private_read_models;
