import warnings

import dagster as dg

# backfill_policy (single-run ranges of fiscal years) is marked beta; pifu relies on it knowingly.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
