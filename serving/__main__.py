"""``python -m serving``: run the model server (see :mod:`serving.server`)."""

import sys

from serving.server import main

sys.exit(main())
