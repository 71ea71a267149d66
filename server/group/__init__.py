"""`serve --processes N`: a supervisor, its workers behind one port, and their shared metrics."""
