"""The schema version every record this worker writes carries (its own module, so that the
upgrade path and the base models can both import it without importing each other)."""

SCHEMA_VERSION = 2
