"""The claims ledger: the chapter's claims C1-C13 (`docs/claims.md`), one module each, with the
rule that decides its verdict from the claims suite's numbers (see `base.py`).

A new claim is one module with a `Claim` subclass, registered in `CLAIMS` below; the claims
suite trains the runs it declares and the claims report shows it.
"""

from bench.claims.base import Claim
from bench.claims.c01_smooth_latent import SmoothLatent
from bench.claims.c02_latent_size import LatentSize
from bench.claims.c03_reconstruction_only import ReconstructionOnly
from bench.claims.c04_kl_only import KLOnly
from bench.claims.c05_both_terms import BothTerms
from bench.claims.c06_moment_penalties import MomentPenalties
from bench.claims.c07_pooled_posterior import PooledPosterior
from bench.claims.c08_tug_of_war import TugOfWar
from bench.claims.c09_blur import Blur
from bench.claims.c10_posterior_prior import PosteriorPrior
from bench.claims.c11_conditioning import Conditioning
from bench.claims.c12_elbo_bound import ELBOBound
from bench.claims.c13_closed_form_kl import ClosedFormKL

CLAIMS: dict[str, Claim] = {claim.id: claim for claim in (
    SmoothLatent(), LatentSize(), ReconstructionOnly(), KLOnly(), BothTerms(), MomentPenalties(), PooledPosterior(),
    TugOfWar(), Blur(), PosteriorPrior(), Conditioning(), ELBOBound(), ClosedFormKL(),
)}
