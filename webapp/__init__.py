"""The curator-facing layer: services that keep the edit log and the index in step, the Gradio UI and the REST API."""
