"""The top layer: the bodies of the `avgzsl` commands (avgzsl/cli.py parses the command line, reports errors).
"""
