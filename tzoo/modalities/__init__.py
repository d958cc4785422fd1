"""Data side: find, read and batch datasets. No parameters, CPU only."""
