"""The `dmfrec` command line."""
