"""The gaussian command line (typer) and the demo, with the tables both print.
The top wing: may import every wing below it.
"""
