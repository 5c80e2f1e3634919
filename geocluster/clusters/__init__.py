"""Cluster detection: areal (LISA, Gi*) and point-pattern (KDE, K-density)."""
