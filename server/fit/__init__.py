"""What a checkpoint needs on a card: counted on the meta device from its configuration (plan.py), printed by
``python -m server fit`` (cli.py); the server applies the chosen memory mode (modes.py)."""
