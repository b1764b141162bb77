#!/usr/bin/env python3
"""Print the development Fernet key that `make run` encrypts learners' OpenWebUI keys with.

The first run creates it in var/dev-fernet.key (mode 0600, git-ignored with the rest of var/);
later runs print the same key, so keys stored during one `make run` still open in the next.
Development only: it refuses unless DJANGO_DEBUG is on. Production sets YOULAB_FERNET_KEYS.
"""

import os
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
KEY_FILE = Path(os.environ.get("YOULAB_DEV_FERNET_KEY_FILE", ROOT / "var" / "dev-fernet.key"))


def main() -> int:
    if os.environ.get("DJANGO_DEBUG", "").strip().lower() not in {"1", "true", "yes", "on"}:
        print("dev_fernet_key: refusing: the development key is for `make run` with DJANGO_DEBUG=1; "
              "set YOULAB_FERNET_KEYS instead", file=sys.stderr)
        return 1
    if KEY_FILE.exists():
        key = KEY_FILE.read_text(encoding="ascii").strip()
        try:
            Fernet(key)
        except ValueError:
            print(f"dev_fernet_key: {KEY_FILE} does not hold a Fernet key; delete it to make a new one "
                  "(keys stored with the old one cannot be read again)", file=sys.stderr)
            return 1
        what = "Using the development Fernet key in"
    else:
        KEY_FILE.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key().decode("ascii")
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key + "\n")
        what = "Created a development Fernet key in"
    print(f"{what} {KEY_FILE} for learners' OpenWebUI keys (kept across runs; "
          "development only: production needs YOULAB_FERNET_KEYS).", file=sys.stderr)
    print(key)
    return 0


if __name__ == "__main__":
    sys.exit(main())
