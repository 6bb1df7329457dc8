"""``python -m crm_platform.cli``: the same command as ``crm-platform``."""

import sys

from crm_platform.cli import main

sys.exit(main())
