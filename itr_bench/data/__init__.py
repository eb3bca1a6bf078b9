"""Data helpers shared by every dataset and encoder plugin."""
