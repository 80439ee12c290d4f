"""The diffusion core shared by the diffusion methods (Diffuser, Decision Diffuser, RS-Diffuser).

Separate, swappable pieces: networks (:mod:`.unet`), noise schedules (:mod:`.schedules`), the training
objective with inpainting (:mod:`.objective`), samplers with guidance (:mod:`.samplers`) and a weight
average (:mod:`.ema`). Trajectories are ``(B, H, D)`` tensors throughout.
"""

from rsbench.methods.diffusion.ema import EMA
from rsbench.methods.diffusion.objective import (
    Inpainting,
    ModelFn,
    Prediction,
    diffusion_loss,
    diffusion_noise,
)
from rsbench.methods.diffusion.samplers import (
    DDIMSampler,
    DDPMSampler,
    Guidance,
    Guide,
    guide_gradient,
    select_best,
)
from rsbench.methods.diffusion.schedules import NoiseSchedule, cosine_betas, linear_betas, vp_betas
from rsbench.methods.diffusion.unet import (
    Conv1dBlock,
    ResidualTemporalBlock,
    SinusoidalEmbedding,
    TemporalUnet,
    TemporalValue,
)

__all__ = [
    "EMA",
    "Conv1dBlock",
    "DDIMSampler",
    "DDPMSampler",
    "Guidance",
    "Guide",
    "Inpainting",
    "ModelFn",
    "NoiseSchedule",
    "Prediction",
    "ResidualTemporalBlock",
    "SinusoidalEmbedding",
    "TemporalUnet",
    "TemporalValue",
    "cosine_betas",
    "diffusion_loss",
    "diffusion_noise",
    "guide_gradient",
    "linear_betas",
    "select_best",
    "vp_betas",
]
