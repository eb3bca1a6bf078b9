"""Built-in plugin: dualpath (being written)."""
