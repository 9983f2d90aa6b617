"""Model catalogue: named models (Burns et al.'s hub ladder, the offline world zoo).

Any hub id or local folder also works without being listed; entries here add a default learning
rate, a description and, for the offline zoo, the folder under assets/ the weights ship in.
"""
