"""Supernets: one network that holds many candidates of a space.

* :mod:`~edgenas.supernets.weight_sharing`: once-for-all style supernets whose subnets are
  slices of shared weights (``kws``: :class:`KwsSharedSupernet`, ``mbconv``:
  :class:`MbconvSharedSupernet`); the supernet evaluators (``edgenas.evaluators.supernet``)
  train one and score candidates with inherited weights.
* :mod:`~edgenas.supernets.differentiable`: a single-path Gumbel-softmax supernet of ``kws``
  (:class:`KwsGumbelSupernet`) whose architecture logits are learnt with a differentiable
  latency and SRAM loss (``edgenas search --strategy differentiable``).

Torch lives here; the derived architectures go back through the normal loop.
"""
