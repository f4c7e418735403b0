"""Test-time alignment: Safety Arithmetic (task vectors, Harm Direction Removal) and activation
steering (steering vectors, the in-context safety vector), usable by every verb through model
folders that `load_model` reads (importing this package registers the "steering" extension)."""

from safealign.steer.contrast import (
    AGGREGATORS,
    ContrastPair,
    build_steering_vector,
    first_principal_direction,
    mean_difference,
)
from safealign.steer.hooks import Steering, decoder_layers
from safealign.steer.model_folder import attach_steering, write_model_manifest, write_steered_model
from safealign.steer.rules import RULES, add_rule, icv_rule
from safealign.steer.steering_vector import ModelFingerprint, SteeringVector, SteeringVectorError
from safealign.steer.task_vector import (
    TaskVector,
    apply_task_vector,
    apply_task_vector_in_memory,
    changed_layers,
    keep_top_k,
    topk_threshold,
)

__all__ = [
    "AGGREGATORS",
    "RULES",
    "ContrastPair",
    "ModelFingerprint",
    "Steering",
    "SteeringVector",
    "SteeringVectorError",
    "TaskVector",
    "add_rule",
    "apply_task_vector",
    "apply_task_vector_in_memory",
    "attach_steering",
    "build_steering_vector",
    "changed_layers",
    "decoder_layers",
    "first_principal_direction",
    "icv_rule",
    "keep_top_k",
    "mean_difference",
    "topk_threshold",
    "write_model_manifest",
    "write_steered_model",
]
