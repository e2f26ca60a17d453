"""Dialogs: pure conversation logic over core events, returning core cards."""
