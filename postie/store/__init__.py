"""The transfer store: what was planned and how far posting got."""
