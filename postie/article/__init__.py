"""Articles: files into segments, yEnc bodies, headers."""
