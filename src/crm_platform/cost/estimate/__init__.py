"""``crm-platform cost``: a monthly estimate of the synthesized assembly from a versioned
price table, the original design priced the same way, and what each main choice costs.

It reads templates (the CLI hands it the assembly's stacks), never AWS: offline is the
default, and the only runtime call it would make (``--live``, the Price List API) is not
built yet (docs/adr/0037).
"""

from crm_platform.cost.estimate.prices import PriceTable, load_table
from crm_platform.cost.estimate.report import TARGET_RATIO, Report, build, to_dict

__all__ = ["TARGET_RATIO", "PriceTable", "Report", "build", "load_table", "to_dict"]
