"""Built-in plugin: backbones (being written)."""
