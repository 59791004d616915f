"""The track diffusion model and its parts: `layers`, `encoders`, `diffusion_model`."""
