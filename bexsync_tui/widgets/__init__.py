"""bexsync."""
