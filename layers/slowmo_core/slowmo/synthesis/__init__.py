"""Synthesis: the engines and the rules that fill the slots between real frames."""
