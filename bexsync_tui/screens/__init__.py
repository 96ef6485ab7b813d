"""The TUI's screens, one module each; ``base.BexScreen`` holds what they share."""
