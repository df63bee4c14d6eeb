"""The shipped FER2013 model's making: its training recipe (:mod:`~fer_engine.pretrained.training`)
and its model card (:mod:`~fer_engine.pretrained.card`). Loading it for use is a model family
like any other: :mod:`fer_engine.models.pretrained`.
"""
