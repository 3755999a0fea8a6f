import sys

from captum_nlp_ext.cli import main

sys.exit(main())
