"""Pure cores, no I/O: the hybrid logical clock, the priority layer, numbering rules."""
