"""webui: the operations console in the browser (reads state, writes only commands)."""
