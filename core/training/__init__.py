"""Training the two learned SERAC parts: the scope classifier (train_scope) and the counterfactual
model (train_counterfactual). Pure core: reads benchmark files, writes checkpoint folders; no UI or
database. `cli/train.py` exposes them as `app.py train-scope` and `app.py train-counterfactual`.
"""
