"""The SERAC inference core: edit memory, scope classifier, router, base and counterfactual models.

Nothing in this package imports gradio, sqlalchemy or any other UI or storage library.
"""
