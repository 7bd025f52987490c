"""Generative models of Lecture IV as JAX-free configs, whose `build` makes the Flax NNX
module (dlrun.families.generative.models), and the tasks and losses they are trained
with, named for declarations (dlrun.families.generative.task and .gan)."""

from dataclasses import dataclass

from dlrun.core.config import Ref
from dlrun.families.mlp.config import dense_params

AUTOENCODING = Ref("dlrun.families.generative.task:AUTOENCODING")
VARIATIONAL_AUTOENCODING = Ref("dlrun.families.generative.task:VARIATIONAL_AUTOENCODING")
RECONSTRUCTION_ERROR = Ref("dlrun.families.generative.task:reconstruction_error")
SIGMOID_BCE = Ref("dlrun.families.generative.gan:sigmoid_bce")


def gan_training(judge) -> Ref:
    """The GAN's task; `judge` is the classifier experiment that judges its samples."""
    return Ref("dlrun.families.generative.gan:GanTraining", (("judge", judge),))


@dataclass(frozen=True)
class AutoEncoderConfig:
    hidden: tuple[int, ...] = (256,)
    latent: int = 20
    inputs: int = 784

    def sizes(self) -> tuple[int, ...]:
        return (self.inputs, *self.hidden, self.latent)

    def build(self, rngs):
        from dlrun.families.generative.models import AutoEncoder  # JAX is imported by runs only

        return AutoEncoder(self.sizes(), rngs=rngs)

    def num_params(self) -> int:
        return dense_params(self.sizes()) + dense_params(self.sizes()[::-1])


@dataclass(frozen=True)
class VAEConfig(AutoEncoderConfig):
    def build(self, rngs):
        from dlrun.families.generative.models import VAE  # JAX is imported by runs only

        return VAE(self.sizes(), rngs=rngs)

    def num_params(self) -> int:
        *body, latent = self.sizes()
        return dense_params((*body, 2 * latent)) + dense_params(self.sizes()[::-1])


@dataclass(frozen=True)
class GANConfig:
    latent: int = 64
    g_hidden: tuple[int, ...] = (256,)
    d_hidden: tuple[int, ...] = (256,)
    image: int = 784
    snapshot_steps: tuple[int, ...] = (0, 100, 500, 2000)  # generator updates before each snapshot
    snapshot_images: int = 10

    def build(self, rngs):
        from dlrun.families.generative.models import GAN  # JAX is imported by runs only

        return GAN(self, rngs=rngs)

    def num_params(self) -> int:
        return dense_params((self.latent, *self.g_hidden, self.image)) + dense_params((self.image, *self.d_hidden, 1))
