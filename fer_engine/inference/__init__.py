"""Inference: photos, folders, video files and live frames: detect, classify, smooth, alert, draw.

- :mod:`~fer_engine.inference.predict`: one table row per face over image files (the CLI's ``predict``).
- :mod:`~fer_engine.inference.classify`: one uploaded photo in memory (the Classify page).
- :mod:`~fer_engine.inference.live`: the frame pipeline for live and recorded video.
- :mod:`~fer_engine.inference.video`: a recorded video file through that pipeline.
"""
