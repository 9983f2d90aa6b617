"""Offline worlds the project ships, so that every method runs with no hub access: `facts` (entities with a colour,
a job and a size, and the GPT-2 zoo pretrained on them) and `arith` (multi-step sums and the arithmetic zoo).
`pretrain` is the shared causal-LM pretraining both zoos are built with. Importing a world stays light (no torch).
"""
