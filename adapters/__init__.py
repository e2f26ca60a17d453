"""Platform adapters: translate payloads to core events, render core cards."""
