from steps.inference.merge_partitions import merge_partitions
from steps.inference.plan_partitions import plan_partitions
from steps.inference.score_batch import score_batch
from steps.inference.score_partition import score_partition

__all__ = ["merge_partitions", "plan_partitions", "score_batch", "score_partition"]
