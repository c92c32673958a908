"""The error every pretrained-model problem raises."""


class PretrainedModelError(ValueError):
    """A weight file or model directory cannot be used."""
