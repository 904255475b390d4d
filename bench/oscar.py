"""django-oscar's voucher-set generation, the comparison for `portal generate-codes`.

Oscar's dashboard fills a VoucherSet of N codes with one `get_unused_code` (draw a
code, look it up) and one `Voucher.objects.create` per code, in one transaction
(`VoucherSetForm.save`); this runs that same loop with oscar's own functions on
SQLite, in a scratch environment of its own (bench/data/oscar-venv, made on first use).

    .venv/bin/python bench/oscar.py 50000      # prints: seconds codes
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / "data" / "oscar-venv"
OSCAR = "django-oscar==4.2.1"

SCRIPT = r'''
import os, sys, time
import django
from django.conf import settings
import oscar
from oscar import defaults

work = sys.argv[2]
settings.configure(
    **{name: value for name, value in vars(defaults).items() if name.isupper()},
    DEBUG=False, SECRET_KEY="bench", USE_TZ=True, SITE_ID=1, ROOT_URLCONF=__name__,
    INSTALLED_APPS=oscar.INSTALLED_APPS,
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": os.path.join(work, "oscar.sqlite3")}},
    HAYSTACK_CONNECTIONS={"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}},
    DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                "OPTIONS": {"context_processors": []}}],
    MIDDLEWARE=[], STATIC_URL="/static/",
)
urlpatterns = []
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import transaction
from django.utils import timezone
from oscar.core.loading import get_model
from oscar.apps.voucher.utils import get_unused_code

VoucherSet = get_model("voucher", "VoucherSet")
Voucher = get_model("voucher", "Voucher")
count = int(sys.argv[1])
now = timezone.now()
start = time.perf_counter()
with transaction.atomic():  # as VoucherSetForm.save, its loop without offers to attach
    instance = VoucherSet.objects.create(name="Bench", code_length=12, description="",
                                         start_datetime=now, end_datetime=now, count=count)
    for i in range(instance.vouchers.count(), instance.count):
        Voucher.objects.create(name="%s - %d" % (instance.name, i + 1),
                               code=get_unused_code(length=instance.code_length),
                               voucher_set=instance, usage=Voucher.SINGLE_USE,
                               start_datetime=instance.start_datetime,
                               end_datetime=instance.end_datetime)
    instance.update_count()
seconds = time.perf_counter() - start
assert Voucher.objects.count() == count
print(seconds, count)
'''


def python() -> Path:
    """The scratch environment's interpreter, with oscar installed into it."""
    interpreter = VENV / "bin" / "python"
    if not interpreter.exists():
        venv.create(VENV, with_pip=True)
    check = subprocess.run([str(interpreter), "-c", "import oscar"], capture_output=True)
    if check.returncode:
        subprocess.run([str(interpreter), "-m", "pip", "install", "-q", OSCAR], check=True)
    return interpreter


def generate(count: int) -> float:
    """Seconds oscar takes to generate `count` voucher codes into a new VoucherSet."""
    with tempfile.TemporaryDirectory(prefix="oscar-bench-") as work:
        done = subprocess.run([str(python()), "-c", SCRIPT, str(count), work],
                              capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"oscar's generation failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.split()[0])


def version() -> str:
    return subprocess.run([str(python()), "-c", "import oscar; print(oscar.get_version())"],
                          capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    print(generate(n), n)
