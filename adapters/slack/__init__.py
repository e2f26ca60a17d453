"""The Slack adapter: slash commands, interactivity and events over HTTP or Socket Mode."""
