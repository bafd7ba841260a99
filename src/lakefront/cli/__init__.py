"""The `lakefront` command line: one module per command group; commands parse, then delegate."""
