"""python -m dr_assets.cli"""

import sys

from dr_assets.cli import main

sys.exit(main())
