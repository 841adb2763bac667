"""The report's sections, one module each: pure functions from the trials frame to plain data."""
