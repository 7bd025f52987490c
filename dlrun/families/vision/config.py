"""Convolutional networks (Lecture III): convolution -> max pooling, repeated, then flatten
and a fully connected classifier. Configs are frozen dataclasses whose `build` makes the
Flax NNX module (dlrun.families.vision.models); this module imports no JAX.

The parameter counts are part of the lesson, so the config computes them by hand: the
shared count (what the network has), the count the same connections would need without
weight sharing (a locally connected layer), and the count of a dense layer between the
same input and output maps (the lecture's "18 weights for two 3x3 filters vs 1152").
"""

from dataclasses import dataclass

from dlrun.core.config import Ref

CNN_CLASSIFICATION = Ref("dlrun.families.vision.task:CNN_CLASSIFICATION")


def fgsm_classification(epsilon: float) -> Ref:
    """Classification tested on FGSM images at `epsilon` (dlrun.families.vision.task)."""
    return Ref("dlrun.families.vision.task:FgsmClassification", (("epsilon", epsilon),))


def conv_counts(height: int, width: int, c_in: int, c_out: int, kernel: int, bias: bool = True) -> tuple[int, int, int]:
    """Weights of a 'valid' k x k convolution from an H x W x c_in map to c_out maps:
    shared (one k*k*c_in filter per output map), unshared (every output unit has its own
    filter: local connections, no sharing) and dense (every output unit sees every input)."""
    out_units = (height - kernel + 1) * (width - kernel + 1) * c_out
    b = 1 if bias else 0
    shared = kernel * kernel * c_in * c_out + b * c_out
    unshared = out_units * (kernel * kernel * c_in + b)
    dense = out_units * (height * width * c_in + b)
    return shared, unshared, dense


@dataclass(frozen=True)
class CNNConfig:
    """The lecture's Keras CNN: Convolution2D(25,3,3) -> MaxPooling2D((2,2)) ->
    Convolution2D(50,3,3) -> MaxPooling2D((2,2)) -> Flatten -> Dense(100) -> Dense(10).
    'valid' convolutions (the Keras default): 28 -> 26 -> 13 -> 11 -> 5, so 5*5*50 = 1250
    features reach the dense layer."""

    filters: tuple[int, ...] = (25, 50)
    kernel: int = 3
    pool: int = 2
    dense: tuple[int, ...] = (100,)
    batchnorm: bool = False  # BatchNorm after each convolution, before its ReLU
    # 0.9, not Keras' 0.99: with 40 steps an epoch (4,000 images / 100), 0.99 would leave
    # 67% of the running statistics at their initial values after the first epoch.
    bn_momentum: float = 0.9
    image: tuple[int, int, int] = (28, 28, 1)  # H, W, channels
    classes: int = 10

    def build(self, rngs):
        from dlrun.families.vision.models import CNN  # JAX is imported by runs only

        return CNN(self, rngs=rngs)

    def maps(self) -> list[tuple[int, int, int]]:
        """(H, W, C) entering each convolution, then the map that is flattened."""
        h, w, c = self.image
        shapes = []
        for f in self.filters:
            shapes.append((h, w, c))
            h, w, c = (h - self.kernel + 1) // self.pool, (w - self.kernel + 1) // self.pool, f
        return shapes + [(h, w, c)]

    def _conv_counts(self) -> list[tuple[int, int, int]]:
        bias = not self.batchnorm  # batch norm's shift makes a conv bias redundant
        maps = self.maps()
        return [conv_counts(h, w, c, f, self.kernel, bias) for (h, w, c), f in zip(maps, self.filters)]

    def _head_params(self) -> int:
        """Dense layers, plus batch norm's scale and shift per conv channel."""
        h, w, c = self.maps()[-1]
        sizes = (h * w * c, *self.dense, self.classes)
        dense = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        return dense + (2 * sum(self.filters) if self.batchnorm else 0)

    def num_params(self) -> int:
        return sum(s for s, _, _ in self._conv_counts()) + self._head_params()

    def unshared_params(self) -> int:
        """The same connections without weight sharing (locally connected layers)."""
        return sum(u for _, u, _ in self._conv_counts()) + self._head_params()

    def dense_params(self) -> int:
        """Every convolution replaced by a dense layer between the same maps."""
        return sum(d for _, _, d in self._conv_counts()) + self._head_params()
