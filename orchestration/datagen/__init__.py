"""Demo-data generator: calibrated, deterministic raw feeds at any scale (`warehouse generate`)."""
