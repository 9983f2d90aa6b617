"""Packaging beyond what pyproject.toml can say: the shipped presets and zoo weights (assets/ in the checkout)
travel in the wheel as the package data `engine._assets`, where engine.paths.assets_dir finds them."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["engine", "engine.*", "studio", "studio.*"]), "engine._assets"],
    package_dir={"engine._assets": "assets"},
    package_data={"engine._assets": ["configs/*.yaml", "zoo/*.json", "zoo/*/*", "zoo/arith/*.json", "zoo/arith/*/*"],
                  "studio": ["static/*"]},
)
