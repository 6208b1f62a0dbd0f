"""Transport: the token client that sends a dialect's request with httpx under one deadline."""
