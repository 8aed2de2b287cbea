"""Batch scoring with a trained model version."""
