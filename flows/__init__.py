"""Example and rotation flows (run them as scripts, or import them)."""
