"""python -m geocluster"""

import sys

from geocluster.pipeline.cli import main

sys.exit(main())
