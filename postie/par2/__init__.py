"""PAR2 recovery sets: planning, running the tool, scheduling."""
