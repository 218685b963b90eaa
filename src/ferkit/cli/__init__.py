"""The `ferkit` command line."""
