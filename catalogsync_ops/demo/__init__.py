"""The demo platform: a loopback HTTP server with a seeded catalog and generated audio."""
