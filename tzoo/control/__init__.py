"""Offline control data: environments, behaviour policies, Minari collection and training windows."""
