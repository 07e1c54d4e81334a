"""The process-wide Runtime: limits, pools and the posting engine."""
