"""The console adapter: talk to the bot in a terminal."""
