"""
The paired cell inpainting network, drawn from the model
========================================================

Builds the network exactly as skpci trains it (here the human layout: 3 source
channels, 2 target markers, 64 px) and draws every convolution from the model's
own layers: the source encoder (top), the target-marker encoder (bottom) and
the decoder (right). Box heights grow with the number of filters; the labels
give name, filters and spatial size. Features are read from the source encoder.
"""

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, Rectangle

from skpci.network import build_inpainting_model

model = build_inpainting_model(n_protein_channels=1, n_marker_channels=2, input_size=64)
print(f"{model.count_params():,} parameters")

convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
rows = {"source encoder": [], "target-marker encoder": [], "decoder": []}
for layer in convolutions:
    if layer.name.startswith("rfp"):
        rows["target-marker encoder"].append(layer)
    elif layer.name in ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"):
        rows["source encoder"].append(layer)
    else:
        rows["decoder"].append(layer)

figure, axis = plt.subplots(figsize=(11, 4.5))
colors = {"source encoder": "tab:green", "target-marker encoder": "tab:purple", "decoder": "tab:orange"}
places = {}
for part, layers in rows.items():
    y = {"source encoder": 2.2, "target-marker encoder": 0.0, "decoder": 1.1}[part]
    x0 = 0 if part != "decoder" else 5.6
    for k, layer in enumerate(layers):
        height = 0.25 + 0.18 * np.log2(layer.filters / 8)
        x = x0 + 1.05 * k
        axis.add_patch(Rectangle((x, y - height / 2), 0.8, height, color=colors[part], alpha=0.75))
        size = layer.output.shape[1]
        axis.text(x + 0.4, y + height / 2 + 0.05, f"{layer.name}\n{layer.filters} @ {size}px",
                  ha="center", va="bottom", fontsize=7)
        places[layer.name] = (x, y)
    if part == "decoder":
        axis.text(x0 + 2.5, y - 0.7, part, ha="center", va="center", fontsize=9, color=colors[part])
    else:
        axis.text(x0 - 0.1, y, part, ha="right", va="center", fontsize=9, color=colors[part])
for start, end in (("conv5_1", "conv6_1"), ("rfpconv3_1", "conv6_1")):
    (x1, y1), (x2, y2) = places[start], places[end]
    axis.add_patch(FancyArrowPatch((x1 + 0.8, y1), (x2, y2), arrowstyle="->", mutation_scale=12))
axis.text(0.0, 3.3, "x_in: all channels of the source cell", ha="left", fontsize=8)
axis.text(0.4, -0.75, "y_rfp: marker channels of the target cell", ha="left", fontsize=8)
axis.text(places["y_gfp"][0] + 0.4, 0.3, "y_gfp: predicted\ntarget protein", ha="center", fontsize=8)
axis.set_xlim(-2.2, 11)
axis.set_ylim(-1, 3.6)
axis.set_axis_off()
axis.set_title("Paired cell inpainting network (BatchNorm after every encoder convolution)")
plt.show()
