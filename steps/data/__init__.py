from steps.data.clean_data import clean_data
from steps.data.ingest_data import ingest_data
from steps.data.split_data import split_data
from steps.data.validate_data import validate_data

__all__ = ["clean_data", "ingest_data", "split_data", "validate_data"]
