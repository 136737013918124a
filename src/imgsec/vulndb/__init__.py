"""The offline vulnerability database: schema and store, importers, update from a mirror."""
