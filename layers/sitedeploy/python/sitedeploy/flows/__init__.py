"""What the service does, step by step: accept, publish, follow, sweep, tear down; sites,
connections and uploads. Each flow takes the ``Services`` it acts through."""
