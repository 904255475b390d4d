"""The voucher domain: plain values in, model objects or dataclasses out.

Nothing here knows about requests, forms or templates; every service owns its
transaction and raises a DomainError with a machine-readable reason when it refuses.
"""
