"""``edgenas export --format firmware``: the model array plus what a firmware needs around it
(labels, normalisation, int8 parameters, an operator resolver, the MFCC front end in C, an
example classifier and its Makefile), and the checks of the C front end that run without a
TensorFlow Lite Micro tree: on the host and on a Cortex-M7 in QEMU."""

from edgenas.export.firmware.bundle import FirmwareBundle, test_signals, write_firmware_bundle
from edgenas.export.firmware.frontend import FrontEnd, python_features, training_front_end

__all__ = ["FirmwareBundle", "FrontEnd", "python_features", "test_signals", "training_front_end", "write_firmware_bundle"]
