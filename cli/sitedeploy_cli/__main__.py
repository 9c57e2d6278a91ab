import sys

from sitedeploy_cli.main import main

sys.exit(main())
