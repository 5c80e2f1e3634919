"""python -m geocluster"""

import sys

from geocluster.cli import main

sys.exit(main())
