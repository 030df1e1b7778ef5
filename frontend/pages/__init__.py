"""The web app's pages, one module each."""
