import sys

from hospital.cli import main

sys.exit(main())
