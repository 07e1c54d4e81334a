"""The queue daemon: watch folders, a durable queue, status and metrics."""
