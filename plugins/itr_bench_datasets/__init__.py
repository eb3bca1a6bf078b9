"""Built-in plugin: datasets (being written)."""
