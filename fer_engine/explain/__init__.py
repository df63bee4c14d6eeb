"""Explanations for our Keras models and checks of how far to trust them.

Entry point: :func:`explain` (one input, one method -> :class:`Explanation`). Then
:func:`overlay` puts its map on the original photo through the face's crop box
(:func:`paint_map` on a video frame),
:func:`deletion_insertion`, :func:`randomisation_check` and :func:`method_agreement`
say how faithful the map is, and :func:`region_attribution` aggregates region
shares over a run's images per emotion and subgroup (:func:`run_region_attribution`
explains a run folder's images, each with its own fold's model). :func:`first_conv_filters` /
:func:`first_conv_activations` show the first convolution layer.

For one classified face of a photo (:mod:`fer_engine.inference.classify`):
:func:`explain_face` runs several methods, :func:`overlay_panel` shows a map on the photo
around the face, :func:`face_faithfulness` measures the maps and
:meth:`Faithfulness.lines` says it in one sentence each; :func:`explanation_note` says
what the maps explain for a model served by a LiteRT twin. :data:`METHOD_NAMES` gives
each method's display name.

Submodules: ``core`` (model resolution, caches, :class:`Explanation`), ``methods``,
``faithfulness``, ``regions``, ``overlay``, ``filters``. TensorFlow is imported
lazily by the functions that need it.
"""

from fer_engine.explain.core import (
    Explanation,
    clear_cache,
    explanation_note,
    last_conv_layer,
    predict_proba,
    resolve,
)
from fer_engine.explain.faithfulness import (
    Curves,
    Faithfulness,
    agreement_matrix,
    deletion_insertion,
    face_faithfulness,
    method_agreement,
    randomisation_check,
    rank_correlation,
)
from fer_engine.explain.filters import first_conv_activations, first_conv_filters, tile_grid
from fer_engine.explain.methods import (
    DEFAULT_METHODS,
    FAST_METHODS,
    METHOD_NAMES,
    METHODS,
    SHORT_NAMES,
    explain,
    explain_batch,
    explain_face,
    fast_gradcam,
    fast_saliency,
    face_input,
    integrated_gradients,
    mean_face,
    occlusion,
    reference_input,
    warm_up,
)
from fer_engine.explain.overlay import (
    CMAPS,
    colourise,
    overlay,
    overlay_on_input,
    overlay_panel,
    paint_map,
)
from fer_engine.explain.regions import (
    REGION_NAMES,
    REGIONS,
    RunRegions,
    aggregate_regions,
    crop_margin,
    region_areas,
    region_attribution,
    region_boxes,
    region_masks,
    region_shares,
    region_summary,
    region_table,
    run_region_attribution,
)

__all__ = [
    "CMAPS",
    "DEFAULT_METHODS",
    "FAST_METHODS",
    "METHODS",
    "METHOD_NAMES",
    "REGIONS",
    "REGION_NAMES",
    "SHORT_NAMES",
    "Curves",
    "Explanation",
    "Faithfulness",
    "RunRegions",
    "aggregate_regions",
    "agreement_matrix",
    "clear_cache",
    "colourise",
    "crop_margin",
    "deletion_insertion",
    "explain",
    "explain_batch",
    "explain_face",
    "explanation_note",
    "face_faithfulness",
    "face_input",
    "fast_gradcam",
    "fast_saliency",
    "first_conv_activations",
    "first_conv_filters",
    "integrated_gradients",
    "last_conv_layer",
    "mean_face",
    "method_agreement",
    "occlusion",
    "overlay",
    "overlay_on_input",
    "overlay_panel",
    "paint_map",
    "predict_proba",
    "randomisation_check",
    "rank_correlation",
    "reference_input",
    "region_areas",
    "region_attribution",
    "region_boxes",
    "region_masks",
    "region_shares",
    "region_summary",
    "region_table",
    "resolve",
    "run_region_attribution",
    "tile_grid",
    "warm_up",
]
