"""The bexsync Textual TUI and scripting CLI; they talk to the daemon only over JSON-RPC."""
