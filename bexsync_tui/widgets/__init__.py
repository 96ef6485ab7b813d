"""Widgets and helpers shared by the screens: tables, progress, QR code, money, messages."""
