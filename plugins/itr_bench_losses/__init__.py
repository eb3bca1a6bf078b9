"""Built-in plugin: losses (being written)."""
