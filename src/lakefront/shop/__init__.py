"""The shop's domain and use cases. No framework, no I/O of its own: adapters are handed in."""
