"""Inference: photos, folders, video files and live frames: detect, classify, smooth, alert, draw.

- :mod:`~fer_engine.inference.predict`: one table row per face over image files (the CLI's
  ``predict``).
- :mod:`~fer_engine.inference.classify`: one uploaded photo in memory (the Classify page).
- :mod:`~fer_engine.inference.pipeline`: the frame pipeline for live and recorded video
  (``LiveConfig``, ``FramePipeline``, ``FrameSummary``).
- :mod:`~fer_engine.inference.tracking`: faces followed over frames, their probabilities
  smoothed over time.
- :mod:`~fer_engine.inference.alerts`: alert episodes of a watched emotion.
- :mod:`~fer_engine.inference.timeline`: a session's per-frame record and its CSV.
- :mod:`~fer_engine.inference.live`: the bridge from a live video callback thread to the page.
- :mod:`~fer_engine.inference.video`: a recorded video file through the frame pipeline.
"""
