"""scikit-learn's data-free estimator checks, run one by one.

With image input (``input_tags.two_d_array=False``) ``check_estimator``
skips every check, so the applicable ones are called directly.
"""

import pytest
from sklearn.utils import estimator_checks as checks

from skpci import CellSegmenter, PairedInpaintingFeaturizer

ESTIMATORS = [PairedInpaintingFeaturizer(), CellSegmenter()]
DATA_FREE_CHECKS = [
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_mixin_order,
    checks.check_estimator_tags_renamed,
    checks.check_valid_tag_types,
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_data_free_checks_pass(estimator, check):
    check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda e: type(e).__name__)
def test_estimator_declares_image_input(estimator):
    tags = estimator.__sklearn_tags__()
    assert tags.input_tags.two_d_array is False
    assert tags.target_tags.required is False


def test_segmenter_is_stateless_and_allows_pipeline_set_output():
    segmenter = CellSegmenter()
    assert segmenter.__sklearn_tags__().requires_fit is False
    assert segmenter.set_output(transform="pandas") is segmenter
