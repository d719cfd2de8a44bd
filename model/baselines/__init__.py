"""Baselines DMF is judged against, with the same API: `name`, `fit(matrix)`, `score(users)`."""

from model.baselines.ease import EASE
from model.baselines.implicit_models import ALS, BPR
from model.baselines.itemknn import ItemKNN
from model.baselines.popularity import ItemPop

__all__ = ["ALS", "BPR", "EASE", "ItemKNN", "ItemPop"]
