"""Proving that posted articles are on the server."""
