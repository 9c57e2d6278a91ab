"""The ``sitedeploy`` command: talk to a sitedeploy API from a terminal."""
