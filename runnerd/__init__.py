"""runnerd: the daemon that runs the Catalogsync queue, and its command line."""
