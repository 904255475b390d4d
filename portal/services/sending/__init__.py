"""Sending a campaign (stage 4): starting a send, the worker's loop through its
deliveries, composing each message, and the send's report."""

from __future__ import annotations

from .compose import Composer, Prepared, Sender, VoucherHtml
from .report import Progress, progress
from .sample import send_test
from .start import audience_size, check_transport, get_job, jobs_for, start_send
from .worker import process_send

__all__ = ["Composer", "Prepared", "Progress", "Sender", "VoucherHtml", "audience_size",
           "check_transport", "get_job", "jobs_for", "process_send", "progress", "send_test",
           "start_send"]
