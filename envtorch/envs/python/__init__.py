"""The CodeAct Python environment: actions are Python code run in a persistent sandbox."""
