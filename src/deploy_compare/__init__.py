"""deploy-compare: export one model to every deployment path and measure each the same way.

Importing this package must stay cheap: no torch, no tensorflow at import time.
"""

__version__ = "0.1.0"
