"""Deterministic sample transaction files with planted fraud and the truth to judge scores by.

The package's public names are the generator's (``name as name`` marks each as re-exported, so
the list is not written a second time in an ``__all__``).
"""

from fraud_platform.sample_data.generator import FRAUD_TYPOLOGIES as FRAUD_TYPOLOGIES
from fraud_platform.sample_data.generator import GROUND_TRUTH_COLUMNS as GROUND_TRUTH_COLUMNS
from fraud_platform.sample_data.generator import HUB_TYPOLOGIES as HUB_TYPOLOGIES
from fraud_platform.sample_data.generator import LEGITIMATE_TYPOLOGIES as LEGITIMATE_TYPOLOGIES
from fraud_platform.sample_data.generator import MALFORMED_KINDS as MALFORMED_KINDS
from fraud_platform.sample_data.generator import WORLDS as WORLDS
from fraud_platform.sample_data.generator import SampleConfig as SampleConfig
from fraud_platform.sample_data.generator import SampleDay as SampleDay
from fraud_platform.sample_data.generator import World as World
from fraud_platform.sample_data.generator import generate_day as generate_day
from fraud_platform.sample_data.generator import generate_days as generate_days
from fraud_platform.sample_data.generator import part_name as part_name
from fraud_platform.sample_data.generator import read_ground_truth as read_ground_truth
from fraud_platform.sample_data.generator import world_names as world_names
from fraud_platform.sample_data.generator import write_day as write_day
