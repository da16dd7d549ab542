"""
probe.py wrapped in wsgiref.validate.validator, every warning an error:
a PEP 3333 slip by bridge (or by the probe) becomes an exception, so a
500 and a traceback in the error log.  Serve only probe's conforming
paths through it.
"""
import warnings
from wsgiref.validate import validator

import probe

warnings.simplefilter('error')

application = validator(probe.app)
