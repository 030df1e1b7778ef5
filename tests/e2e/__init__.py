"""Browser tests: the app started the way the README starts it, driven in Debian's Chromium."""
