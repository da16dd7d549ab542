#!/nonexistent/interpreter
# Its interpreter does not exist: exec fails.
