"""Routes: each is a few lines, declaring its response and calling the service."""
