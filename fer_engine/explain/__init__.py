"""Explanations for our Keras models and checks of how far to trust them.

Entry point: :func:`explain` (one input, one method -> :class:`Explanation`). Then
:func:`overlay` puts its map on the original photo through the face's crop box,
:func:`deletion_insertion`, :func:`randomisation_check` and :func:`method_agreement`
say how faithful the map is, and :func:`region_attribution` aggregates region
shares over a run's images per emotion and subgroup (:func:`run_region_attribution`
explains a run folder's images, each with its own fold's model). :func:`first_conv_filters` /
:func:`first_conv_activations` show the first convolution layer.

Submodules: ``core`` (model resolution, caches, :class:`Explanation`), ``methods``,
``faithfulness``, ``regions``, ``overlay``, ``filters``. TensorFlow is imported
lazily by the functions that need it.
"""

from fer_engine.explain.core import (
    Explanation,
    clear_cache,
    last_conv_layer,
    predict_proba,
    resolve,
)
from fer_engine.explain.faithfulness import (
    Curves,
    agreement_matrix,
    deletion_insertion,
    method_agreement,
    randomisation_check,
    rank_correlation,
)
from fer_engine.explain.filters import first_conv_activations, first_conv_filters, tile_grid
from fer_engine.explain.methods import (
    FAST_METHODS,
    METHODS,
    explain,
    explain_batch,
    fast_gradcam,
    fast_saliency,
    integrated_gradients,
    mean_face,
    occlusion,
    reference_input,
    warm_up,
)
from fer_engine.explain.overlay import CMAPS, colourise, overlay, overlay_on_input
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
    "FAST_METHODS",
    "METHODS",
    "REGIONS",
    "REGION_NAMES",
    "Curves",
    "Explanation",
    "RunRegions",
    "aggregate_regions",
    "agreement_matrix",
    "clear_cache",
    "colourise",
    "crop_margin",
    "deletion_insertion",
    "explain",
    "explain_batch",
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
